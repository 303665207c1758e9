"""Alignment red flags: signs that marketing, sales and operations are pulling apart.

Each check reads what other parts of revops already keep and raises at most a
few flags, each with a stable `key` (the operating review fingerprints agenda
items by it) and a link to where the problem can be fixed. The thresholds:

- rejections_rising: over the last `WINDOW_DAYS` days against the same number
  of days before, leads created rose by at least 10 % while the reject rate
  (rejected ÷ offered assignments) rose by at least 3 points and the
  rejections themselves rose; both windows need `MIN_ASSIGNMENTS` offers.
  Read from the rolled-up facts, like the leads and reject rate metrics.
- low_completeness: the mean completeness of the leads created in the last
  `WINDOW_DAYS` days (the data completeness metric) is under 60 %
  (critical under 40 %), over at least `MIN_LEADS` leads.
- campaigns_untracked: live campaigns without a UTM campaign, source or
  medium value: their leads cannot be attributed.
- campaigns_without_follow_up: live campaigns with no journey attached
  (active or draft), so nobody follows up the people they bring in.
- kpi_unowned: KPI tree nodes without an owner.
- orphan_leads: leads in the "no man's land" (unowned, or in a stage past its
  threshold; apps.execution.selectors.stuck with its default thresholds), as
  last counted on the day (apps.measurement.services.backlog): a warning from
  `ORPHAN_WARNING` leads, critical from `ORPHAN_CRITICAL`.
- undecided:<agenda key>: an issue (an agenda item key) raised in at least
  `REPEAT_REVIEWS` held operating reviews with no decision recorded on any
  agenda item of that key.
"""

import datetime
from dataclasses import asdict, dataclass
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.core.cache import cache
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from . import store

WINDOW_DAYS = 28
VOLUME_RISE = 0.10
REJECT_RATE_RISE_POINTS = 3.0
MIN_ASSIGNMENTS = 20
COMPLETENESS_WARNING = 0.60
COMPLETENESS_CRITICAL = 0.40
MIN_LEADS = 10
ORPHAN_WARNING = 5
ORPHAN_CRITICAL = 50
REPEAT_REVIEWS = 3

WARNING, CRITICAL = "warning", "critical"


@dataclass
class RedFlag:
    key: str
    title: str
    detail: str
    severity: str  # "warning" or "critical"
    url: str

    def as_dict(self) -> dict:
        return asdict(self)


def _url(org, name: str, query: dict | None = None, **kwargs) -> str:
    path = reverse(name, kwargs={"org_slug": org.slug, **kwargs})
    return f"{path}?{urlencode(query)}" if query else path


def _windows(today: datetime.date) -> tuple[store.Window, store.Window]:
    current = store.Window(today - datetime.timedelta(days=WINDOW_DAYS - 1), today, None)
    return current, current.previous()


def rejections_rising(org, today: datetime.date) -> list[RedFlag]:
    current, previous = _windows(today)
    figures = []
    for window in (current, previous):
        leads = float(store.sums(org, "funnel", ["created"], window)["created"].sum())
        response = store.sums(org, "response", ["assignments", "rejected"], window)
        offered, rejected = float(response["assignments"].sum()), float(response["rejected"].sum())
        figures.append((leads, offered, rejected))
    (leads, offered, rejected), (leads_before, offered_before, rejected_before) = figures
    if min(offered, offered_before) < MIN_ASSIGNMENTS or not leads_before:
        return []
    rate, rate_before = rejected / offered * 100, rejected_before / offered_before * 100
    volume_change = leads / leads_before - 1
    if (
        volume_change < VOLUME_RISE
        or rate - rate_before < REJECT_RATE_RISE_POINTS
        or rejected <= rejected_before
    ):
        return []
    return [
        RedFlag(
            "red_flag:rejections_rising",
            "Marketing volume is rising while sales rejects more",
            f"Leads created rose {volume_change:.0%} ({leads_before:.0f} → {leads:.0f}) over the last "
            f"{WINDOW_DAYS} days against the {WINDOW_DAYS} before, while the reject rate rose from "
            f"{rate_before:.1f} % to {rate:.1f} % ({rejected_before:.0f} → {rejected:.0f} rejections). "
            "Agree the qualification criteria before adding more volume.",
            CRITICAL if rate - rate_before >= 2 * REJECT_RATE_RISE_POINTS else WARNING,
            _url(
                org,
                "measurement_metric",
                {"from": current.start.isoformat(), "to": today.isoformat(), "group_by": "reason"},
                key="reject_rate",
            ),
        )
    ]


def low_completeness(org, today: datetime.date) -> list[RedFlag]:
    current, _ = _windows(today)
    frame = store.sums(org, "funnel", ["created", "created_completeness"], current)
    created, total = float(frame["created"].sum()), float(frame["created_completeness"].sum())
    if created < MIN_LEADS:
        return []
    mean = total / created
    if mean >= COMPLETENESS_WARNING:
        return []
    return [
        RedFlag(
            "red_flag:low_completeness",
            "Lead data is too incomplete to trust",
            f"The {created:.0f} leads created in the last {WINDOW_DAYS} days are {mean:.0%} complete on "
            f"average (the threshold is {COMPLETENESS_WARNING:.0%}): routing, scoring and reports built on "
            "them are unreliable. Fix the forms and imports that leave the fields empty.",
            CRITICAL if mean < COMPLETENESS_CRITICAL else WARNING,
            _url(org, "quality_completeness"),
        )
    ]


def _live_campaigns(org):
    from apps.execution.models import Campaign, CampaignStatus

    return Campaign.objects.for_org(org).filter(status=CampaignStatus.LIVE)


def _names(items, limit: int = 3) -> str:
    names = [f"“{item}”" for item in items[:limit]]
    more = len(items) - limit
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")


def campaigns_untracked(org, today: datetime.date) -> list[RedFlag]:
    untracked = list(
        _live_campaigns(org)
        .filter(Q(utm_campaign="") | Q(utm_source="") | Q(utm_medium=""))
        .order_by("name", "pk")
    )
    if not untracked:
        return []
    return [
        RedFlag(
            "red_flag:campaigns_untracked",
            f"{len(untracked)} live campaign{'s' if len(untracked) != 1 else ''} without tracking",
            f"{_names(untracked)} {'is' if len(untracked) == 1 else 'are'} live without UTM campaign, source "
            "and medium values, so the leads they bring cannot be attributed to them.",
            WARNING,
            _url(org, "execution_campaigns", {"status": "live"}),
        )
    ]


def campaigns_without_follow_up(org, today: datetime.date) -> list[RedFlag]:
    from apps.execution.models.journeys import JourneyStatus

    followed = Count("journeys", filter=Q(journeys__status__in=[JourneyStatus.ACTIVE, JourneyStatus.DRAFT]))
    bare = list(_live_campaigns(org).annotate(followed=followed).filter(followed=0).order_by("name", "pk"))
    if not bare:
        return []
    return [
        RedFlag(
            "red_flag:campaigns_without_follow_up",
            f"{len(bare)} live campaign{'s' if len(bare) != 1 else ''} without a follow-up journey",
            f"{_names(bare)} {'is' if len(bare) == 1 else 'are'} live with no journey attached: the people "
            "they bring in get no follow-up.",
            WARNING,
            _url(org, "execution_campaigns", {"status": "live"}),
        )
    ]


def kpi_unowned(org, today: datetime.date) -> list[RedFlag]:
    from apps.strategy.models import KpiNode

    nodes = list(KpiNode.objects.for_org(org).filter(owner__isnull=True).order_by("position", "pk"))
    if not nodes:
        return []
    return [
        RedFlag(
            "red_flag:kpi_unowned",
            f"{len(nodes)} KPI{'s' if len(nodes) != 1 else ''} without an owner",
            f"{_names(nodes)} {'has' if len(nodes) == 1 else 'have'} no owner: nobody answers for "
            f"{'it' if len(nodes) == 1 else 'them'} and status changes alert no one.",
            WARNING,
            _url(org, "strategy_kpi_tree"),
        )
    ]


def _end_of(org, day: datetime.date) -> datetime.datetime:
    """The end of a local day of the organisation."""
    zone = ZoneInfo(org.time_zone)
    return datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time.min, tzinfo=zone)


def orphan_leads(org, today: datetime.date) -> list[RedFlag]:
    from .services import backlog

    counted = backlog.for_day(org, today)
    when = ""
    if counted is not None:
        local = timezone.localtime(counted.counted_at, ZoneInfo(org.time_zone))
        when = f" Counted at {local:%H:%M} on {local:%d %b %Y} ({org.time_zone})."
    else:  # a past day that was never counted: today's leads against that day's end
        counted = backlog.measure(org, at=_end_of(org, today))
    total, unowned = counted.total("stuck"), counted.total("unowned")
    if total < ORPHAN_WARNING:
        return []
    return [
        RedFlag(
            "red_flag:orphan_leads",
            f"{total} leads in no man's land",
            f"{unowned} have no owner and {total - unowned} have waited in their stage past its limit "
            "(MQL 3 days, SAL 7, SQL 14, other stages 14 by default). Reassign them or return them to "
            f"marketing.{when}",
            CRITICAL if total >= ORPHAN_CRITICAL else WARNING,
            _url(org, "execution_no_mans_land"),
        )
    ]


def undecided_issues(org, today: datetime.date) -> list[RedFlag]:
    from apps.governance.models import AgendaItem, Decision, OperatingReview

    held = AgendaItem.objects.for_org(org).filter(
        review__status=OperatingReview.Status.HELD, review__held_on__lte=today
    )
    decided = Decision.objects.for_org(org).filter(agenda_item__isnull=False).values("agenda_item__key")
    rows = (
        held.exclude(key="")
        .exclude(key__in=decided)
        .values("key")
        .annotate(reviews=Count("review", distinct=True))
        .filter(reviews__gte=REPEAT_REVIEWS)
        .order_by("-reviews", "key")
    )
    flags = []
    for row in rows:
        latest = (
            held.filter(key=row["key"]).order_by("-review__held_on", "-pk").select_related("review").first()
        )
        flags.append(
            RedFlag(
                f"red_flag:undecided:{row['key']}",
                f"Raised in {row['reviews']} reviews without a decision: {latest.title}",
                f"“{latest.title}” has been on the agenda of {row['reviews']} held reviews, most recently on "
                f"{latest.review.held_on:%d %b %Y}, and no decision was recorded on it. Decide, or drop it "
                "explicitly.",
                CRITICAL if row["reviews"] >= 2 * REPEAT_REVIEWS else WARNING,
                latest.url or "",
            )
        )
    return flags


CHECKS = (
    rejections_rising,
    low_completeness,
    campaigns_untracked,
    campaigns_without_follow_up,
    kpi_unowned,
    orphan_leads,
    undecided_issues,
)


def red_flags(org, *, today: datetime.date) -> list[RedFlag]:
    """Every red flag raised as of `today`: critical ones first, then in the order of the checks."""
    flags = [flag for check in CHECKS for flag in check(org, today)]
    return sorted(flags, key=lambda flag: flag.severity != CRITICAL)


# Red flags read live records (orphan leads, campaigns, action items), not only facts: pages that
# show them keep them for a few minutes rather than until the next rollup.
CACHE_SECONDS = 300


def red_flags_cached(org, *, today: datetime.date, fresh: bool = False) -> list[RedFlag]:
    """`red_flags`, shared for CACHE_SECONDS by every page that shows them; `fresh` recomputes."""
    key = f"dash:{org.pk}:red_flags:{today.isoformat()}"
    flags = None if fresh else cache.get(key)
    if flags is None:
        flags = red_flags(org, today=today)
        cache.set(key, flags, CACHE_SECONDS)
    return flags
