"""Hand-offs: marketing → sales when a lead moves MQL → SAL, sales → customer
success when a deal is won; each with the required fields captured as they
were, the notes carried across and its own SLA.

Creation stays off the write path: `lead_change_stage` and the opportunity
services call `handoff_on_stage_change` / `handoff_on_won`, which only enqueue
a task on commit; `handoffs_sweep` (beat) creates any whose task never ran and
records breaches. A hand-off's SLA is an `SlaPolicy` whose `stage` is the
stage the hand-off leads into ("sal" for marketing → sales, "customer" for
onboarding) and whose clock is "accept"; its due time is computed by the SLA
engine's business-hours clock (`sla.schedule_for`, `calendars.add_business_time`).
Without such a policy the kind's default target runs on the receiving team's
calendar (around the clock when the team has none).

A receiver is an active member (an active membership of an active user): one
named explicitly is refused otherwise; one taken from the record (the lead's
owner, the account owner) who has left is passed over, so the hand-off goes to
the receiving team as it does when nobody owns the record.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from apps.accounts.models import Membership, Team
from apps.accounts.services import is_active_member
from apps.core.errors import ServiceError
from apps.execution import calendars
from apps.execution.models import BusinessCalendar, Handoff, HandoffKind, HandoffStatus, SlaPolicy
from apps.execution.models.sla import Clock
from apps.records.models import Lead, Opportunity, StageEvent

from . import notifications, sla

SWEEP_BATCH = 200
# A lost on-commit task is found again by the sweep for this long after the stage change;
# a move back-dated further than this is history being recorded, not a hand-off to act on.
MISSED_LOOKBACK = timedelta(days=2)
# A win closed longer ago than this (an import of old deals) starts no onboarding.
RECENT_WIN = timedelta(days=14)


@dataclass(frozen=True)
class HandoffSpec:
    kind: str
    required: tuple[str, ...]  # keys of Handoff.fields the receiver needs to start
    policy_stage: str  # an SlaPolicy with this stage (and the accept clock) times the hand-off
    default_target_minutes: int  # business minutes, when no policy is set up
    team_kind: str  # the kind of team that receives it


SPECS = {
    HandoffKind.MARKETING_TO_SALES: HandoffSpec(
        kind=HandoffKind.MARKETING_TO_SALES,
        required=("company", "country", "title", "mql_reason"),
        policy_stage="sal",
        default_target_minutes=4 * 60,
        team_kind=Team.Kind.SALES,
    ),
    HandoffKind.SALES_TO_SUCCESS: HandoffSpec(
        kind=HandoffKind.SALES_TO_SUCCESS,
        required=("account", "amount", "close_date", "primary_contact"),
        policy_stage="customer",
        default_target_minutes=2 * 8 * 60,
        team_kind=Team.Kind.CUSTOMER_SUCCESS,
    ),
}

FIELD_LABELS = {
    "company": "Company",
    "country": "Country",
    "title": "Title",
    "mql_reason": "Why it became an MQL",
    "email": "E-mail",
    "score": "Score",
    "source": "Source",
    "account": "Account",
    "amount": "Amount",
    "close_date": "Close date",
    "primary_contact": "Primary contact",
    "opportunity": "Opportunity",
}


INACTIVE_RECEIVER = "Choose an active member of this organisation."


def missing_fields(handoff: Handoff) -> list[str]:
    """Required fields that were empty when the record was handed over."""
    return [key for key in SPECS[handoff.kind].required if handoff.fields.get(key) in (None, "")]


# --- Capturing what is handed over ---------------------------------------------------------------


def _lead_fields(lead: Lead) -> dict:
    mql = (
        StageEvent.objects.for_org(lead.organization)
        .filter(lead=lead, to_stage="mql")
        .order_by("-at", "-id")
        .values_list("reason", flat=True)
        .first()
    )
    return {
        "company": lead.company,
        "country": lead.country,
        "title": lead.title,
        "mql_reason": mql or "",
        "email": lead.email,
        "score": lead.score,
        "source": lead.source,
    }


def _opportunity_fields(opportunity: Opportunity) -> dict:
    contact = opportunity.primary_contact
    return {
        "opportunity": opportunity.name,
        "account": opportunity.account.name if opportunity.account else "",
        "amount": f"{opportunity.amount} {opportunity.currency}".strip() if opportunity.amount else "",
        "close_date": opportunity.close_date.isoformat() if opportunity.close_date else "",
        "primary_contact": f"{contact} <{contact.email}>" if contact else "",
    }


def _receiving_team(org, spec: HandoffSpec, receiver: Membership | None) -> Team | None:
    """The receiver's own team of the right kind, else the organisation's first such team."""
    teams = Team.objects.for_org(org).filter(kind=spec.team_kind).order_by("name", "pk")
    if receiver is not None:
        own = teams.filter(memberships__membership=receiver).first()
        if own:
            return own
    return teams.first()


def policy_for(org, *, kind: str, team: Team | None) -> SlaPolicy | None:
    """The hand-off's policy: the receiving team's own before one for any team."""
    spec = SPECS[kind]
    candidates = SlaPolicy.objects.for_org(org).filter(
        is_active=True, stage=spec.policy_stage, clock=Clock.ACCEPT
    )
    candidates = (
        candidates.filter(Q(team=team) | Q(team__isnull=True))
        if team
        else candidates.filter(team__isnull=True)
    )
    return candidates.select_related("calendar").order_by("team", "name").first()


def due_at_for(org, *, kind: str, team: Team | None, start: datetime) -> tuple[SlaPolicy | None, datetime]:
    policy = policy_for(org, kind=kind, team=team)
    if policy is not None:
        schedule, minutes = sla.schedule_for(policy), policy.target_minutes
    else:
        calendar = BusinessCalendar.objects.for_org(org).filter(team=team).first() if team else None
        schedule = (
            calendars.schedule_from(
                time_zone=calendar.time_zone, hours_json=calendar.hours, holidays=calendar.holiday_dates
            )
            if calendar
            else calendars.ALWAYS
        )
        minutes = SPECS[kind].default_target_minutes
    return policy, calendars.add_business_time(schedule, start, timedelta(minutes=minutes))


# --- Creating ----------------------------------------------------------------------------------------


@transaction.atomic
def handoff_create(
    *,
    org,
    kind: str,
    lead: Lead | None = None,
    opportunity: Opportunity | None = None,
    sender: Membership | None = None,
    receiver: Membership | None = None,
    notes: str = "",
    strict: bool = True,
    at: datetime | None = None,
) -> Handoff:
    """Hand a lead (marketing → sales) or a won opportunity (onboarding) over.

    `strict` refuses a hand-off with a required field empty, naming it; the
    automatic hand-offs are not strict (the record moved anyway) and show the
    receiver what is missing instead.
    """
    if kind not in SPECS:
        raise ServiceError("Choose marketing → sales or sales → customer success.", field="kind")
    backdated, at = at is not None, at or timezone.now()
    if receiver is not None and not is_active_member(org, receiver):
        raise ServiceError(INACTIVE_RECEIVER, field="receiver")
    if kind == HandoffKind.MARKETING_TO_SALES:
        if lead is None or lead.organization_id != org.pk:
            raise ServiceError("Choose the lead to hand over.", field="lead")
        fields, account = _lead_fields(lead), lead.account
        receiver = receiver or _if_active(org, lead.owner)
        notes = notes or fields["mql_reason"]
    else:
        if opportunity is None or opportunity.organization_id != org.pk:
            raise ServiceError("Choose the won opportunity to hand over.", field="opportunity")
        fields, account = _opportunity_fields(opportunity), opportunity.account
        lead = lead or opportunity.primary_contact
        sender = sender or opportunity.owner
        if receiver is None and account and account.owner_id and account.owner_id != opportunity.owner_id:
            receiver = _if_active(org, account.owner)
    if sender is not None and sender.organization_id != org.pk:
        raise ServiceError("Choose a member of this organisation.", field="sender")
    handoff = Handoff(
        organization=org, kind=kind, lead=lead, opportunity=opportunity, account=account, sender=sender,
        receiver=receiver, fields=fields, notes=notes[:5000],
    )  # fmt: skip
    if strict and (missing := missing_fields(handoff)):
        raise ServiceError(f"{FIELD_LABELS.get(missing[0], missing[0])} is required.", field=missing[0])
    spec = SPECS[kind]
    handoff.receiving_team = _receiving_team(org, spec, receiver)
    handoff.sla_policy, handoff.due_at = due_at_for(org, kind=kind, team=handoff.receiving_team, start=at)
    handoff.save()
    if backdated:  # created for a moment already past (a stage move, the demo): dated then
        Handoff.objects.filter(pk=handoff.pk).update(created_at=at)
        handoff.created_at = at
    _notify_received(org, handoff)
    return handoff


def _if_active(org, membership: Membership | None) -> Membership | None:
    """The record's owner as the receiver, or None when they have left: an automatic hand-off must
    not fail the stage move or the win behind it, so it goes to the receiving team instead."""
    return membership if is_active_member(org, membership) else None


def _notify_received(org, handoff: Handoff) -> None:
    recipients = {handoff.receiver_id} if handoff.receiver_id else _managers(handoff)
    subject = handoff.lead or handoff.opportunity or handoff.account
    for recipient_id in recipients:
        notifications.notify(
            org=org,
            recipient_id=recipient_id,
            kind="handoff.received",
            title=f"Hand-off waiting: {subject} ({handoff.get_kind_display()})",
            body=f"Accept or return it by {handoff.due_at:%Y-%m-%d %H:%M} UTC.",
            url=f"/o/{org.slug}/handoffs/{handoff.pk}/",
            lead=handoff.lead,
        )


def _managers(handoff: Handoff) -> set[int]:
    team = handoff.receiving_team
    return {team.manager_id} if team and team.manager_id else set()


def _create_once_for_lead(*, org, lead_id: int, since: datetime) -> Handoff | None:
    """The marketing → sales hand-off of a lead's move into SAL at `since`, once."""
    lead = (
        Lead.objects.for_org(org)
        .select_for_update(of=("self",))
        .select_related("owner__user")
        .filter(pk=lead_id)
    ).first()
    if lead is None:
        return None
    done = Handoff.objects.for_org(org).filter(
        kind=HandoffKind.MARKETING_TO_SALES, lead=lead, created_at__gte=since
    )
    if done.exists():
        return None
    return handoff_create(org=org, kind=HandoffKind.MARKETING_TO_SALES, lead=lead, strict=False, at=since)


def _create_once_for_opportunity(*, org, opportunity_id: int) -> Handoff | None:
    opportunity = (
        Opportunity.objects.for_org(org)
        .select_for_update(of=("self",))
        .select_related("account__owner__user", "primary_contact", "owner")
        .filter(pk=opportunity_id, status=Opportunity.Status.WON)
        .first()
    )
    if opportunity is None or not _recent_win(opportunity):
        return None
    if (
        Handoff.objects.for_org(org)
        .filter(kind=HandoffKind.SALES_TO_SUCCESS, opportunity=opportunity)
        .exists()
    ):
        return None
    return handoff_create(org=org, kind=HandoffKind.SALES_TO_SUCCESS, opportunity=opportunity, strict=False)


@transaction.atomic
def handoff_for_stage_event(*, org, event_id: int) -> Handoff | None:
    """Create the hand-off a MQL → SAL stage event calls for (safe to run twice)."""
    event = StageEvent.objects.for_org(org).filter(pk=event_id).first()
    if event is None or not _hands_over(event):
        return None
    return _create_once_for_lead(org=org, lead_id=event.lead_id, since=event.at)


@transaction.atomic
def handoff_for_won(*, org, opportunity_id: int) -> Handoff | None:
    """Create the onboarding hand-off of a won opportunity (safe to run twice)."""
    return _create_once_for_opportunity(org=org, opportunity_id=opportunity_id)


def _hands_over(event: StageEvent) -> bool:
    return (event.from_stage, event.to_stage) == (
        "mql",
        "sal",
    ) and event.at >= timezone.now() - MISSED_LOOKBACK


def _recent_win(opportunity: Opportunity) -> bool:
    closed = opportunity.close_date
    return opportunity.status == Opportunity.Status.WON and (
        closed is None or closed >= timezone.localdate() - RECENT_WIN
    )


def handoff_on_stage_change(*, org, event: StageEvent) -> None:
    """Called in the stage-change transaction: enqueue the hand-off, nothing more."""
    if not _hands_over(event):
        return
    from apps.execution.handoff_tasks import create_handoff_for_stage_event

    transaction.on_commit(lambda: create_handoff_for_stage_event.delay(org.pk, event.pk), robust=True)


def handoff_on_won(*, org, opportunity: Opportunity, was_won: bool) -> None:
    """Called in the opportunity write: enqueue the onboarding hand-off of a new win."""
    if was_won or not _recent_win(opportunity):
        return
    from apps.execution.handoff_tasks import create_handoff_for_won

    transaction.on_commit(lambda: create_handoff_for_won.delay(org.pk, opportunity.pk), robust=True)


# --- Answering ------------------------------------------------------------------------------------


def may_answer(membership: Membership, handoff: Handoff) -> bool:
    """The receiver, a member of the receiving team, or someone who steers other people's leads."""
    if membership.can("leads.reassign") or handoff.receiver_id == membership.pk:
        return True
    team = handoff.receiving_team_id
    return bool(team) and membership.team_memberships.filter(team_id=team).exists()


def _answer(*, org, handoff: Handoff, by: Membership | None, status: str, reason: str = "") -> Handoff:
    now = timezone.now()
    locked = Handoff.objects.for_org(org).select_for_update().get(pk=handoff.pk)
    if locked.status != HandoffStatus.PENDING:
        raise ServiceError(
            f"This hand-off was already {locked.get_status_display().lower()}.",
            code="not_pending",
            field="status",
        )
    locked.status = status
    locked.responded_at = now
    locked.return_reason = reason[:500]
    if locked.receiver_id is None and by is not None:
        locked.receiver = by
    if locked.due_at and now > locked.due_at and locked.breached_at is None:
        # Answered late before a sweep saw it: the breach still counts.
        locked.breached_at = now
    locked.save(
        update_fields=["status", "responded_at", "return_reason", "receiver", "breached_at", "updated_at"]
    )
    return locked


@transaction.atomic
def handoff_accept(*, org, handoff: Handoff, by: Membership | None = None) -> Handoff:
    return _answer(org=org, handoff=handoff, by=by, status=HandoffStatus.ACCEPTED)


@transaction.atomic
def handoff_return(*, org, handoff: Handoff, reason: str, by: Membership | None = None) -> Handoff:
    """Send it back to the sender with a reason (what is missing, not a fit, ...)."""
    if not (reason or "").strip():
        raise ServiceError("Say why it goes back, so the sender can fix it.", field="reason")
    returned = _answer(org=org, handoff=handoff, by=by, status=HandoffStatus.RETURNED, reason=reason.strip())
    if returned.sender_id:
        notifications.notify(
            org=org,
            recipient_id=returned.sender_id,
            kind="handoff.returned",
            title=f"Hand-off returned: {returned.lead or returned.opportunity}",
            body=returned.return_reason,
            url=f"/o/{org.slug}/handoffs/{returned.pk}/",
            lead=returned.lead,
        )
    return returned


# --- The sweep ----------------------------------------------------------------------------------------


def handoffs_sweep(*, now: datetime | None = None, limit: int = SWEEP_BATCH) -> dict:
    """Create hand-offs whose on-commit task was lost, then record due breaches."""
    now = now or timezone.now()
    return {"created": handoffs_create_missed(now=now), "breached": handoffs_breach_due(now=now, limit=limit)}


def handoffs_create_missed(*, now: datetime) -> int:
    """MQL → SAL moves and wins of the last two days with no hand-off yet."""
    created = 0
    handed = Handoff.objects.filter(
        kind=HandoffKind.MARKETING_TO_SALES, lead=OuterRef("lead"), created_at__gte=OuterRef("at")
    )
    # Every organisation on purpose: this is the safety net behind each one's on-commit task.
    events = (
        StageEvent.objects.filter(
            ~Exists(handed), from_stage="mql", to_stage="sal", at__gte=now - MISSED_LOOKBACK
        )
        .select_related("organization")
        .order_by("at", "pk")
    )
    for event in events[:SWEEP_BATCH]:
        created += handoff_for_stage_event(org=event.organization, event_id=event.pk) is not None
    wins = (
        Opportunity.objects.filter(
            status=Opportunity.Status.WON,
            updated_at__gte=now - MISSED_LOOKBACK,
        )
        .filter(  # no close date counts as recent, as in _recent_win
            Q(close_date__isnull=True) | Q(close_date__gte=timezone.localdate(now) - RECENT_WIN)
        )
        .exclude(handoffs__kind=HandoffKind.SALES_TO_SUCCESS)
    )
    for opportunity in wins.select_related("organization")[:SWEEP_BATCH]:
        created += handoff_for_won(org=opportunity.organization, opportunity_id=opportunity.pk) is not None
    return created


def handoffs_breach_due(*, now: datetime, limit: int = SWEEP_BATCH) -> int:
    """Record each overdue pending hand-off's breach once and alert the receiving team's manager.

    Due rows are claimed with FOR UPDATE SKIP LOCKED and marked in the same
    transaction, so two sweepers never escalate the same hand-off.
    """
    breached = 0
    while True:
        with transaction.atomic():
            claimed = list(
                Handoff.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(status=HandoffStatus.PENDING, breached_at__isnull=True, due_at__lte=now)
                .select_related("organization", "receiving_team", "receiver__user", "lead", "opportunity")
                .order_by("due_at")[:limit]
            )
            for handoff in claimed:
                handoff.breached_at = now
                handoff.save(update_fields=["breached_at", "updated_at"])
                _notify_breach(handoff)
            breached += len(claimed)
        if len(claimed) < limit:
            return breached


def _notify_breach(handoff: Handoff) -> None:
    org = handoff.organization
    who = handoff.receiver.user.display_name if handoff.receiver else "Nobody"
    for recipient_id in _managers(handoff) | ({handoff.receiver_id} if handoff.receiver_id else set()):
        notifications.notify(
            org=org,
            recipient_id=recipient_id,
            kind="handoff.breached",
            title=f"Hand-off overdue: {handoff.lead or handoff.opportunity}",
            body=f"{who} has not accepted or returned it; it was due {handoff.due_at:%Y-%m-%d %H:%M} UTC.",
            url=f"/o/{org.slug}/handoffs/{handoff.pk}/",
            lead=handoff.lead,
        )


# --- Reading -----------------------------------------------------------------------------------------


def handoffs_visible(*, org, membership: Membership):
    """What a member sees in the hand-off inbox: everything for someone who
    steers leads, else what was sent to them, to their teams or by them."""
    handoffs = Handoff.objects.for_org(org).select_related(
        "lead", "opportunity", "account", "sender__user", "receiver__user", "receiving_team", "sla_policy"
    )
    if membership.can("leads.reassign"):
        return handoffs
    teams = membership.team_memberships.values("team_id")
    return handoffs.filter(Q(receiver=membership) | Q(receiving_team__in=teams) | Q(sender=membership))


@dataclass(frozen=True)
class Compliance:
    """Hand-off SLA compliance over the hand-offs created in a window.

    met: answered (accepted or returned) at or before the due time;
    breached: answered late, or still pending past the due time;
    open: pending and not yet due (left out of the rate);
    rate: met / (met + breached), None when nothing has come due.
    """

    total: int
    met: int
    breached: int
    open: int
    accepted: int
    returned: int

    @property
    def rate(self) -> float | None:
        decided = self.met + self.breached
        return self.met / decided if decided else None

    @property
    def return_rate(self) -> float | None:
        answered = self.accepted + self.returned
        return self.returned / answered if answered else None


def compliance(handoffs, *, now: datetime) -> Compliance:
    late = Q(breached_at__isnull=False) | Q(status=HandoffStatus.PENDING, due_at__lt=now)
    counts = handoffs.aggregate(
        total=Count("pk"),
        breached=Count("pk", filter=late),
        met=Count("pk", filter=~Q(status=HandoffStatus.PENDING) & Q(breached_at__isnull=True)),
        open=Count("pk", filter=Q(status=HandoffStatus.PENDING, breached_at__isnull=True, due_at__gte=now)),
        accepted=Count("pk", filter=Q(status=HandoffStatus.ACCEPTED)),
        returned=Count("pk", filter=Q(status=HandoffStatus.RETURNED)),
    )
    return Compliance(**counts)
