"""Reads behind the rep inbox, the manager queue, notifications and the
routing part of a lead's timeline.

Every list here is built in a fixed number of queries (select_related for the
one-to-one hops, one prefetch for the SLA clocks), whatever its length.
"""

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.contrib.postgres.aggregates import JSONBAgg
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, Value
from django.db.models.functions import JSONObject
from django.utils import timezone

from apps.accounts.models import Membership, Team, TeamMember
from apps.accounts.roles import PERMISSIONS
from apps.execution.models import Assignment, Notification, RejectReason, RoutingDecision, SlaTimer
from apps.execution.models.sla import Clock
from apps.execution.routing import types
from apps.execution.services import facts

# Whoever may change routing for everyone may also steer everyone's leads;
# sales managers steer the reps of the teams they manage.
SEES_EVERYONE = "routing.edit"
QUEUE_STATUSES = {"offered": "Offered", "accepted": "Accepted", "breached": "SLA breached"}
WAITING_LIMIT = 100


@dataclass
class Clocked:
    """An assignment with the SLA clock that matters for it right now."""

    assignment: Assignment
    due_at: datetime | None = None
    sla_state: str = ""  # running, breached, met or "" (no SLA applies)
    policy_name: str = ""

    @property
    def lead(self):
        return self.assignment.lead

    @property
    def why(self) -> str:
        decision = self.assignment.decision
        return decision.trail[-1] if decision and decision.trail else ""

    @property
    def rule_name(self) -> str:
        decision = self.assignment.decision
        return decision.rule_name if decision else ""


def _timers(clock: str | None = None) -> Prefetch:
    timers = SlaTimer.objects.exclude(status=SlaTimer.Status.CANCELLED).select_related("policy")
    if clock:
        timers = timers.filter(clock=clock)
    return Prefetch("timers", queryset=timers.order_by("due_at"), to_attr="live_timers")


def _clocked(assignment: Assignment, clock: str | None = None) -> Clocked:
    """Pick the clock to show: a breached one first, then the soonest running one."""
    timers = [t for t in assignment.live_timers if clock is None or t.clock == clock]
    breached = [t for t in timers if t.status == SlaTimer.Status.BREACHED and t.met_at is None]
    running = [t for t in timers if t.status == SlaTimer.Status.RUNNING]
    shown = (breached or running or timers or [None])[0]
    if shown is None:
        return Clocked(assignment)
    state = "met" if shown.status == SlaTimer.Status.MET else shown.status
    return Clocked(assignment, due_at=shown.due_at, sla_state=state, policy_name=shown.policy.name)


def _with_lead(queryset):
    return queryset.select_related("lead", "lead__stage", "decision", "assignee__user", "pool")


# --- The rep inbox -------------------------------------------------------------------------


def inbox_offers(*, org, membership) -> list[Clocked]:
    """Leads offered to `membership`, oldest first, each with its accept clock."""
    offers = _with_lead(
        Assignment.objects.for_org(org).filter(assignee=membership, status=Assignment.Status.OFFERED)
    ).prefetch_related(_timers(Clock.ACCEPT))
    return [_clocked(a, Clock.ACCEPT) for a in offers.order_by("offered_at", "pk")]


def inbox_awaiting_touch(*, org, membership) -> list[Clocked]:
    """Leads `membership` accepted and has not called or e-mailed yet, with the first-touch clock."""
    accepted = _with_lead(
        Assignment.objects.for_org(org).filter(
            assignee=membership, status=Assignment.Status.ACCEPTED, first_touch_at__isnull=True
        )
    ).prefetch_related(_timers(Clock.FIRST_TOUCH))
    return [_clocked(a, Clock.FIRST_TOUCH) for a in accepted.order_by("accepted_at", "pk")]


def inbox_item(*, org, assignment: Assignment) -> Clocked:
    """One assignment as the inbox shows it (after an accept, for the htmx swap)."""
    fresh = (
        _with_lead(Assignment.objects.for_org(org).filter(pk=assignment.pk)).prefetch_related(_timers()).get()
    )
    clock = Clock.ACCEPT if fresh.status == Assignment.Status.OFFERED else Clock.FIRST_TOUCH
    return _clocked(fresh, clock)


def reject_reasons(*, org):
    return RejectReason.objects.for_org(org).filter(is_active=True).order_by("order", "label")


def rep_profile_available(*, membership) -> bool:
    profile = getattr(membership, "rep_profile", None)
    return profile is None or profile.available


# --- Who a manager looks after ------------------------------------------------------------------


def sees_everyone(membership) -> bool:
    return membership.can(SEES_EVERYONE)


def managed_teams(*, org, membership):
    teams = Team.objects.for_org(org).order_by("name")
    return teams if sees_everyone(membership) else teams.filter(manager=membership)


def managed_member_ids(*, org, membership) -> set[int] | None:
    """Memberships `membership` steers: None means everyone in the organisation."""
    if sees_everyone(membership):
        return None
    ids = set(
        TeamMember.objects.for_org(org)
        .filter(team__manager=membership)
        .values_list("membership_id", flat=True)
    )
    return ids | {membership.pk}


def may_steer(*, org, membership, target: Membership) -> bool:
    """May `membership` change `target`'s availability or hand them leads?"""
    if target.pk == membership.pk:
        return True
    if not membership.can("leads.reassign"):
        return False
    ids = managed_member_ids(org=org, membership=membership)
    return ids is None or target.pk in ids


def queue_reps(*, org, membership, now: datetime | None = None) -> list[Membership]:
    """The reps on the manager's screen with availability, caps and loads.

    Adds `open_count` (offered or accepted), `offered_count`, `today_count`
    (offered since the rep's own local midnight, as the daily cap counts them)
    and `available` to each membership.
    """
    now = now or timezone.now()
    ids = managed_member_ids(org=org, membership=membership)
    reps = Membership.objects.for_org(org).filter(is_active=True).select_related("user", "rep_profile")
    reps = reps.filter(role__in=PERMISSIONS["leads.work"]) if ids is None else reps.filter(pk__in=ids)
    reps = list(
        reps.annotate(
            open_count=Count("assignments", filter=Q(assignments__status__in=Assignment.LIVE)),
            offered_count=Count("assignments", filter=Q(assignments__status=Assignment.Status.OFFERED)),
        ).order_by("user__full_name", "user__email")
    )
    today = facts.today_counts(
        org, {rep.pk: facts.rep_time_zone(getattr(rep, "rep_profile", None), rep, org) for rep in reps}, now
    )
    for rep in reps:
        profile = getattr(rep, "rep_profile", None)
        rep.available = profile is None or profile.available
        rep.daily_cap = profile.daily_cap if profile else None
        rep.open_cap = profile.open_cap if profile else None
        rep.today_count = today.get(rep.pk, 0)
    return reps


def reassign_targets(*, org, membership):
    """People a lead can be handed to by `membership`: active, and able to work leads."""
    ids = managed_member_ids(org=org, membership=membership)
    people = (
        Membership.objects.for_org(org)
        .filter(is_active=True, role__in=PERMISSIONS["leads.work"])
        .select_related("user")
        .order_by("user__full_name", "user__email")
    )
    return people if ids is None else people.filter(pk__in=ids)


def queue_assignments(*, org, membership, team=None, rep=None, status: str = ""):
    """Live assignments of the manager's reps, oldest offer first; unevaluated, for paging."""
    ids = managed_member_ids(org=org, membership=membership)
    live = Assignment.objects.for_org(org).filter(status__in=Assignment.LIVE)
    if ids is not None:
        live = live.filter(assignee_id__in=ids)
    if team is not None:
        live = live.filter(
            assignee_id__in=TeamMember.objects.for_org(org).filter(team=team).values("membership_id")
        )
    if rep is not None:
        live = live.filter(assignee=rep)
    if status in (Assignment.Status.OFFERED, Assignment.Status.ACCEPTED):
        live = live.filter(status=status)
    elif status == "breached":
        live = live.filter(
            Exists(
                SlaTimer.objects.filter(
                    assignment=OuterRef("pk"), status=SlaTimer.Status.BREACHED, met_at__isnull=True
                )
            )
        )
    return _with_lead(live).prefetch_related(_timers()).order_by("offered_at", "pk")


def clocked(assignments) -> list[Clocked]:
    return [_clocked(a) for a in assignments]


def queue_waiting(*, org, limit: int = WAITING_LIMIT) -> list[RoutingDecision]:
    """Leads nobody has: their latest decision queued or held them and no one holds them since."""
    newer = RoutingDecision.objects.filter(
        organization=org, lead=OuterRef("lead"), created_at__gt=OuterRef("created_at")
    )
    live = Assignment.objects.filter(lead=OuterRef("lead"), status__in=Assignment.LIVE)
    return list(
        RoutingDecision.objects.for_org(org)
        .filter(outcome__in=(types.QUEUED, types.HELD), lead__isnull=False, lead__merged_into__isnull=True)
        .exclude(Exists(newer))
        .exclude(Exists(live))
        .select_related("lead", "lead__stage", "pool")
        .order_by("created_at", "pk")[:limit]
    )


# --- Notifications ------------------------------------------------------------------------------


def notifications_for(*, org, membership):
    return Notification.objects.for_org(org).filter(recipient=membership).order_by("-created_at", "-pk")


# --- Routing seen from an account or an opportunity ---------------------------------------------------


def owner_routing(*, org, record, limit: int = 10) -> dict:
    """The decisions that routed an account or opportunity (newest first), and whether its
    object has a published policy (so a "route now" button can do something)."""
    from apps.execution.services import ownership, policies

    object_type = ownership.object_type_of(record)
    decisions = (
        RoutingDecision.objects.for_org(org)
        .filter(**{object_type: record})
        .select_related("assignee__user", "pool", "policy_version")
        .order_by("-created_at", "-pk")[:limit]
    )
    return {
        "routing_decisions": list(decisions),
        "routing_published": policies.published_policy(org, object_type) is not None,
        "routing_object": object_type,
    }


# --- The routing part of a lead's timeline --------------------------------------------------------


def lead_routing_timeline(*, org, lead) -> list:
    """Routing decisions, what happened to each offer and the SLA clocks of one lead."""
    from apps.records.selectors import TimelineEntry

    entries = []
    decisions = (
        RoutingDecision.objects.for_org(org)
        .filter(lead=lead)
        .select_related("assignee__user", "pool")
        .order_by("-created_at")[:50]
    )
    for decision in decisions:
        entries.append(
            TimelineEntry(
                at=decision.created_at,
                kind="routing",
                title=_decision_title(decision),
                reason=decision.trail[-1] if decision.trail else "",
                origin=decision.get_trigger_display(),
                detail=[
                    (label, value)
                    for label, value in (("rule", decision.rule_name), ("queue", decision.pool))
                    if value
                ],
            )
        )
    # The SLA clocks ride along with their assignments as JSON: the lead page's
    # query budget is shared with stages, touchpoints and the audit trail.
    assignments = (
        Assignment.objects.for_org(org)
        .filter(lead=lead)
        .select_related("assignee__user", "reject_reason", "actor")
        .annotate(
            timer_rows=JSONBAgg(
                JSONObject(
                    clock="timers__clock",
                    status="timers__status",
                    policy="timers__policy__name",
                    started_at="timers__started_at",
                    due_at="timers__due_at",
                    met_at="timers__met_at",
                    breached_at="timers__breached_at",
                ),
                filter=Q(timers__isnull=False),
                default=Value([]),
            )
        )
        .order_by("-offered_at")[:50]
    )
    zone = ZoneInfo(org.time_zone)
    for assignment in assignments:
        entries += _assignment_entries(assignment, TimelineEntry)
        for row in assignment.timer_rows:
            entries += _timer_entries(row, TimelineEntry, zone)
    return entries


def _decision_title(decision: RoutingDecision) -> str:
    if decision.outcome == types.ASSIGNED and decision.assignee:
        return f"Routed to {decision.assignee.user.display_name}"
    if decision.outcome == types.HELD:
        return "Held until the data is complete"
    if decision.outcome == types.QUEUED:
        return "Queued: nobody was eligible"
    return f"Routing: {decision.outcome}"


def _assignment_entries(assignment: Assignment, entry) -> list:
    rep = assignment.assignee.user.display_name
    who = assignment.actor.display_name if assignment.actor else ""
    entries = []
    if assignment.accepted_at:
        entries.append(entry(assignment.accepted_at, "assignment", f"Accepted by {rep}", who))
    if assignment.rejected_at:
        reason = assignment.reject_reason.label if assignment.reject_reason else ""
        entries.append(
            entry(
                assignment.rejected_at,
                "assignment",
                f"Rejected by {rep}",
                who,
                [("reason", reason)] if reason else [],
                reason=assignment.reject_note,
            )
        )
    if assignment.first_touch_at:
        entries.append(entry(assignment.first_touch_at, "assignment", f"First touch by {rep}"))
    if assignment.closed_at:
        verb = "Taken from" if assignment.status == Assignment.Status.REASSIGNED else "Closed for"
        entries.append(
            entry(assignment.closed_at, "assignment", f"{verb} {rep}", who, reason=assignment.reject_note)
        )
    return entries


def _timer_entries(row: dict, entry, zone: ZoneInfo) -> list:
    """Entries for one SLA clock, from its JSON row (see lead_routing_timeline)."""
    at = {key: datetime.fromisoformat(row[key]) if row[key] else None for key in _TIMER_TIMES}
    clock = Clock(row["clock"]).label.lower()
    status = SlaTimer.Status(row["status"])
    name = f"{clock} ({row['policy']})"
    due = [("due", f"{at['due_at'].astimezone(zone):%Y-%m-%d %H:%M}"), ("status", status.label.lower())]
    entries = [entry(at["started_at"], "sla", f"SLA clock started: {name}", "", due)]
    if at["breached_at"]:
        entries.append(entry(at["breached_at"], "sla", f"SLA missed: {name}"))
    if at["met_at"] and status == SlaTimer.Status.MET:
        entries.append(entry(at["met_at"], "sla", f"SLA met: {name}"))
    return entries


_TIMER_TIMES = ("started_at", "due_at", "met_at", "breached_at")
