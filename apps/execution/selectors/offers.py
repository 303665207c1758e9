"""The offers behind an assignment figure: the records list the review dashboards drill into.

Speed-to-lead, SLA compliance and the reject rate are read from ResponseDay
facts (apps.measurement.facts.build_responses), one per offer day. This list
reads the same assignments with the same meaning, so its counts are the
figure's own:

- an offer belongs to the organisation's local day it was made on;
- channel and campaign are its lead's; owner is the rep it was offered to, and
  a team means a rep who is an active member of it (the dashboards' filter);
- a first offer is the lead's earliest (by time, then id): speed-to-lead reads
  the first offers whose lead was touched;
- an SLA timer counts as met when it is met, as breached when it breached
  (even if met later), as SLA compliance counts them;
- `show` keeps the offers behind one figure: "first" (speed-to-lead),
  "sla" (with a timer met or breached) or "rejected".
"""

from dataclasses import dataclass
from datetime import date

from django.db.models import Count, Exists, OuterRef, Prefetch, Q

from apps.accounts.models import TeamMember
from apps.execution import metrics
from apps.execution.models import Assignment, SlaTimer

SHOW = {
    "": "Every offer",
    "first": "First offers touched (speed-to-lead)",
    "sla": "Offers with an SLA met or breached",
    "rejected": "Rejected offers",
}

_MET = Q(status=SlaTimer.Status.MET)
_BREACHED = Q(status=SlaTimer.Status.BREACHED) | Q(breached_at__isnull=False)


@dataclass(frozen=True)
class OfferQuery:
    start: date
    end: date  # included
    tz: object
    channel: str | None = None
    campaign: str | None = None
    owner: int | None = None
    team: int | None = None
    show: str = ""


@dataclass(frozen=True)
class Totals:
    offers: int
    first_touched: int
    rejected: int
    sla_met: int
    sla_breached: int

    @property
    def reject_rate(self) -> float | None:
        return round(100 * self.rejected / self.offers, 1) if self.offers else None

    @property
    def sla_compliance(self) -> float | None:
        ended = self.sla_met + self.sla_breached
        return round(100 * self.sla_met / ended, 1) if ended else None


def _first_offer():
    earlier = Assignment.objects.filter(lead_id=OuterRef("lead_id")).filter(
        Q(offered_at__lt=OuterRef("offered_at")) | Q(offered_at=OuterRef("offered_at"), id__lt=OuterRef("id"))
    )
    return ~Exists(earlier)


def offers(org, query: OfferQuery):
    """The organisation's offers matching `query`, newest first, with lead, rep and timers at hand."""
    start, end = metrics.period_bounds(query.start, query.end, query.tz)
    found = Assignment.objects.for_org(org).filter(offered_at__gte=start, offered_at__lt=end)
    if query.channel is not None:
        found = found.filter(lead__channel=query.channel)
    if query.campaign is not None:
        found = found.filter(lead__utm_campaign=query.campaign)
    if query.owner is not None:
        found = found.filter(assignee_id=query.owner)
    if query.team is not None:
        members = TeamMember.objects.for_org(org).filter(team_id=query.team, membership__is_active=True)
        found = found.filter(assignee_id__in=members.values("membership_id"))
    found = found.annotate(first=_first_offer())
    if query.show == "first":
        found = found.filter(first=True, first_touch_at__isnull=False)
    elif query.show == "sla":
        ended = SlaTimer.objects.filter(assignment_id=OuterRef("pk")).filter(_MET | _BREACHED)
        found = found.filter(Exists(ended))
    elif query.show == "rejected":
        found = found.filter(rejected_at__isnull=False)
    timers = Prefetch("timers", queryset=SlaTimer.objects.order_by("started_at", "pk"))
    return (
        found.select_related("lead", "assignee__user", "reject_reason")
        .prefetch_related(timers)
        .order_by("-offered_at", "-pk")
    )


def totals(found) -> Totals:
    """The figures of a list of offers, counted in PostgreSQL as the facts count them."""
    numbers = found.order_by().aggregate(
        offers=Count("pk"),
        first_touched=Count("pk", filter=Q(first=True, first_touch_at__isnull=False)),
        rejected=Count("pk", filter=Q(rejected_at__isnull=False)),
    )
    timers = SlaTimer.objects.filter(assignment__in=found.order_by().values("pk")).aggregate(
        met=Count("pk", filter=_MET), breached=Count("pk", filter=_BREACHED)
    )
    return Totals(
        offers=numbers["offers"],
        first_touched=numbers["first_touched"],
        rejected=numbers["rejected"],
        sla_met=timers["met"],
        sla_breached=timers["breached"],
    )


def sla_outcome(timer: SlaTimer) -> str:
    """A timer as the list shows it: "breached" wins over a late "met", as in SLA compliance."""
    if timer.status == SlaTimer.Status.BREACHED or timer.breached_at is not None:
        return "breached"
    return timer.status
