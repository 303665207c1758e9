"""SLA clocks: started with an offer, met by an accept or a first touch, and
escalated by a beat sweep that claims due timers with FOR UPDATE SKIP LOCKED.

Exactly once: each step applied inserts an `SlaEvent` unique per (timer,
step) in the same transaction that advances the timer, and every side effect
outside the database (e-mail, webhook) goes through a row written in that
transaction. A worker killed mid-sweep rolls back its batch; the next sweep
takes it again, and nothing was applied twice.
"""

import logging
from datetime import datetime, timedelta

from django.db import InterfaceError, OperationalError, transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone

from apps.accounts.models import Team
from apps.core.errors import ServiceError
from apps.execution import calendars
from apps.execution.models import Assignment, SlaEvent, SlaPolicy, SlaTimer
from apps.execution.models.sla import Clock, Step
from apps.integrations.services import outbox_emit
from apps.records import conditions, quality

from . import notifications

log = logging.getLogger(__name__)

SWEEP_BATCH = 200
RETRY_AFTER = timedelta(minutes=1)
LADDER_ACTIONS = {Step.REMIND, Step.ALERT_MANAGER, Step.REASSIGN}


def clean_escalation(*, target_minutes: int, steps) -> list[dict]:
    """Validate a ladder of {"at_minutes", "action", "mark_unavailable"}; sorted by time."""
    if not isinstance(steps, list):
        raise ServiceError("The escalation ladder is a list of steps.", field="escalation")
    cleaned = []
    for index, step in enumerate(steps):
        where = f"escalation[{index}]"
        if not isinstance(step, dict) or step.get("action") not in LADDER_ACTIONS:
            raise ServiceError("Each step is remind, alert_manager or reassign.", field=f"{where}.action")
        minutes = step.get("at_minutes")
        if not isinstance(minutes, int) or minutes < 0:
            raise ServiceError(
                "Give the step's time in whole minutes from the start.", field=f"{where}.at_minutes"
            )
        cleaned.append(
            {
                "at_minutes": minutes,
                "action": step["action"],
                "mark_unavailable": bool(step.get("mark_unavailable")),
            }
        )
    return sorted(cleaned, key=lambda s: s["at_minutes"])


def schedule_for(policy: SlaPolicy) -> calendars.Schedule:
    calendar = policy.calendar
    if calendar is None:
        return calendars.ALWAYS
    return calendars.schedule_from(
        time_zone=calendar.time_zone, hours_json=calendar.hours, holidays=calendar.holiday_dates
    )


def ladder_for(policy: SlaPolicy) -> list[dict]:
    """The policy's ladder with the breach itself as a step at the target."""
    steps = [*policy.escalation, {"at_minutes": policy.target_minutes, "action": Step.BREACH}]
    # The breach sorts before other steps at the same minute, so "alert the
    # manager at the target" always follows the recorded breach.
    return sorted(steps, key=lambda s: (s["at_minutes"], s["action"] != Step.BREACH))


def policies_for(org, *, lead, pool_id: int | None) -> list[SlaPolicy]:
    """The active policies that apply to `lead` offered from `pool_id` (None: not from a pool)."""
    active = list(SlaPolicy.objects.for_org(org).filter(is_active=True).select_related("calendar"))
    team_ids = set()
    # The teams of the pool matter only to a policy attached to a team; most have none.
    if pool_id and any(policy.team_id for policy in active):
        team_ids = set(Team.objects.for_org(org).filter(pools__pk=pool_id).values_list("pk", flat=True))
    record = None
    chosen = []
    for policy in active:
        if policy.stage and policy.stage != lead.stage.key:
            continue
        if policy.team_id and policy.team_id not in team_ids:
            continue
        if policy.conditions:
            record = record or quality.as_record(lead)
            if not conditions.matches(policy.conditions, record):
                continue
        chosen.append(policy)
    return chosen


def _run_at(schedule, start: datetime, minutes: int) -> str:
    return calendars.add_business_time(schedule, start, timedelta(minutes=minutes)).isoformat()


def timers_start(*, org, assignment: Assignment, lead) -> list[SlaTimer]:
    timers = []
    for policy in policies_for(org, lead=lead, pool_id=assignment.pool_id):
        schedule = schedule_for(policy)
        start = assignment.offered_at
        ladder = [
            {**step, "run_at": _run_at(schedule, start, step["at_minutes"])} for step in ladder_for(policy)
        ]
        due = calendars.add_business_time(schedule, start, timedelta(minutes=policy.target_minutes))
        timers.append(
            SlaTimer(
                organization=org,
                policy=policy,
                assignment=assignment,
                lead=lead,
                assignee_id=assignment.assignee_id,
                clock=policy.clock,
                started_at=start,
                due_at=due,
                ladder=ladder,
                next_run_at=datetime.fromisoformat(ladder[0]["run_at"]),
            )
        )
    return SlaTimer.objects.bulk_create(timers)


def timers_meet(*, org, assignment: Assignment, clock: str, at: datetime) -> int:
    """Stop the clocks of this kind: met in time, or late (already breached)."""
    met = 0
    for timer in (
        SlaTimer.objects.for_org(org)
        .select_for_update()
        .filter(assignment=assignment, clock=clock, met_at__isnull=True)
        .exclude(status=SlaTimer.Status.CANCELLED)
    ):
        if timer.status == SlaTimer.Status.RUNNING and at > timer.due_at:
            # Met late before any sweep recorded the breach: record it now, once,
            # so webhooks and reports see every breach whatever the workers did.
            _record_breach(timer, at=at)
        timer.met_at = at
        timer.next_run_at = None
        if timer.status == SlaTimer.Status.RUNNING:
            timer.status = SlaTimer.Status.MET
        timer.save(update_fields=["met_at", "next_run_at", "status", "breached_at", "updated_at"])
        met += 1
    return met


def _record_breach(timer: SlaTimer, *, at: datetime) -> None:
    index = next((i for i, step in enumerate(timer.ladder) if step["action"] == Step.BREACH), None)
    if index is None:
        return
    _, created = SlaEvent.objects.get_or_create(
        timer=timer,
        step=index,
        defaults={"organization_id": timer.organization_id, "action": Step.BREACH, "at": at},
    )
    if created:
        _apply(timer, timer.ladder[index], now=at)


def timers_cancel(*, org, assignment: Assignment) -> int:
    return SlaTimer.objects.for_org(org).filter(assignment=assignment, status=SlaTimer.Status.RUNNING).update(
        status=SlaTimer.Status.CANCELLED, next_run_at=None, updated_at=timezone.now()
    ) + SlaTimer.objects.for_org(org).filter(assignment=assignment, next_run_at__isnull=False).update(
        next_run_at=None, updated_at=timezone.now()
    )


# --- The sweep ----------------------------------------------------------------


def claim_due(*, now: datetime, limit: int = SWEEP_BATCH):
    """Due timers, oldest first, skipping rows another sweeper holds.

    The claim reads the timer table alone, so it walks `slatimer_due_idx` and
    stops at `limit`; what the steps need is loaded afterwards, and only when
    something was claimed (the usual tick on a million open timers claims nothing).
    """
    timers = list(
        SlaTimer.objects.select_for_update(skip_locked=True)
        .filter(next_run_at__lte=now)
        .order_by("next_run_at")[:limit]
    )
    if timers:
        prefetch_related_objects(timers, "organization", "lead", "policy", "assignee__user", "assignment")
    return timers


def sla_sweep(*, now: datetime | None = None, limit: int = SWEEP_BATCH) -> int:
    """Apply every due escalation step; returns how many steps were applied."""
    applied = 0
    while True:
        current = now or timezone.now()
        with transaction.atomic():
            timers = claim_due(now=current, limit=limit)
            for timer in timers:
                try:
                    with transaction.atomic():  # one timer's failure does not undo the batch
                        applied += _advance(timer, now=current)
                except Exception as error:
                    if _gone(error):
                        raise  # the batch rolls back whole; the next sweep takes it again
                    # Left due, a failing timer would head every batch and stall the sweep
                    # (and a batch of them would loop here forever), so it waits a little.
                    log.exception("SLA timer %s failed; retrying it in %s", timer.pk, RETRY_AFTER)
                    SlaTimer.objects.filter(pk=timer.pk).update(next_run_at=current + RETRY_AFTER)
        if len(timers) < limit:
            return applied


def _gone(error: Exception) -> bool:
    """The database connection or the task's time ran out: nothing to blame on one timer."""
    return (
        isinstance(error, OperationalError | InterfaceError)
        or type(error).__name__ == "SoftTimeLimitExceeded"
    )


def _advance(timer: SlaTimer, *, now: datetime) -> int:
    applied = 0
    while timer.next_run_at is not None and timer.next_run_at <= now and timer.assignment.is_live:
        step = timer.ladder[timer.next_step]
        _, created = SlaEvent.objects.get_or_create(
            timer=timer,
            step=timer.next_step,
            defaults={"organization_id": timer.organization_id, "action": step["action"], "at": now},
        )
        if created:
            _apply(timer, step, now=now)
            applied += 1
        timer.next_step += 1
        following = timer.ladder[timer.next_step] if timer.next_step < len(timer.ladder) else None
        timer.next_run_at = datetime.fromisoformat(following["run_at"]) if following else None
    if not timer.assignment.is_live:
        # The lead moved on (a reassign step just now): the rest of the ladder was for a rep
        # who no longer has it. Saving the ladder position must not revive the clock that
        # the reassignment cancelled.
        timer.next_run_at = None
        if timer.status == SlaTimer.Status.RUNNING:
            timer.status = SlaTimer.Status.CANCELLED
    timer.save(update_fields=["next_step", "next_run_at", "status", "breached_at", "updated_at"])
    return applied


def _apply(timer: SlaTimer, step: dict, *, now: datetime) -> None:
    org = timer.organization
    lead = timer.lead
    clock = Clock(timer.clock).label.lower()
    inbox = f"/o/{org.slug}/inbox/"
    match step["action"]:
        case Step.REMIND:
            notifications.notify(
                org=org,
                recipient_id=timer.assignee_id,
                kind="sla.reminder",
                title=f"Reminder: {clock} {lead} by {timer.due_at:%H:%M} UTC",
                url=inbox,
                lead=lead,
            )
        case Step.BREACH:
            timer.status = SlaTimer.Status.BREACHED
            timer.breached_at = timer.due_at
            outbox_emit(
                org=org,
                event_type="sla.breached",
                data={
                    "timer": timer.pk,
                    "policy": timer.policy.name,
                    "clock": timer.clock,
                    "lead": lead.pk,
                    "assignee": timer.assignee_id,
                    "due_at": timer.due_at.isoformat(),
                },
            )
            notifications.notify(
                org=org,
                recipient_id=timer.assignee_id,
                kind="sla.breached",
                title=f"SLA missed: {clock} {lead}",
                body=f"{timer.policy.name} was due at {timer.due_at:%Y-%m-%d %H:%M} UTC.",
                url=inbox,
                lead=lead,
            )
        case Step.ALERT_MANAGER:
            for manager_id in _managers_of(org, timer.assignee_id):
                notifications.notify(
                    org=org,
                    recipient_id=manager_id,
                    kind="sla.escalated",
                    title=f"Escalation: {lead} waiting for {clock}",
                    body=f"{timer.assignee.user.display_name} missed {timer.policy.name}.",
                    url=f"/o/{org.slug}/routing/queue/",
                    lead=lead,
                )
        case Step.REASSIGN:
            _reassign(timer, step, now=now)


def _reassign(timer: SlaTimer, step: dict, *, now: datetime) -> None:
    from apps.execution.models.routing import Trigger

    from .routing import assignment_reassign, rep_set_available

    assignment = timer.assignment
    # Only a lead still waiting on this rep moves: accepted-and-touched work stays.
    untouched = assignment.first_touch_at is None
    if assignment.status == Assignment.Status.OFFERED or (
        assignment.status == Assignment.Status.ACCEPTED and timer.clock == Clock.FIRST_TOUCH and untouched
    ):
        # Never wait on a rep acting on this lead right now: they lock the lead, then
        # the timers this sweep holds. LeadBusy retries the step a little later.
        assignment_reassign(org=timer.organization, assignment=assignment, trigger=Trigger.ESCALATED,
                            note=f"SLA escalation: {timer.policy.name}", wait=False)  # fmt: skip
        assignment.refresh_from_db(fields=["status"])
        if step.get("mark_unavailable"):
            rep_set_available(org=timer.organization, membership=timer.assignee, available=False)


def _managers_of(org, membership_id: int) -> set[int]:
    return set(
        Team.objects.for_org(org)
        .filter(memberships__membership_id=membership_id, manager__isnull=False)
        .values_list("manager_id", flat=True)
    )


def touch_record(*, org, lead, actor_membership=None, kind: str = "call", note: str = "", at=None):
    """Log a rep's first (or later) touch: a touchpoint, and the first-touch clock met."""
    from apps.records.services import touchpoint_create

    at = at or timezone.now()
    with transaction.atomic():
        touch = touchpoint_create(
            org=org, lead=lead, channel="Sales", source="sales", medium=kind, type=kind, occurred_at=at,
            note=note[:500],
        )  # fmt: skip
        live = (
            Assignment.objects.for_org(org)
            .select_for_update()
            .filter(lead=lead, status__in=Assignment.LIVE)
            .first()
        )
        if live and live.first_touch_at is None:
            live.first_touch_at = at
            live.save(update_fields=["first_touch_at", "updated_at"])
            timers_meet(org=org, assignment=live, clock=Clock.FIRST_TOUCH, at=at)
        return touch
