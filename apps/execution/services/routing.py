"""Routing leads: the request outbox, the decision, and what reps do with it.

The flow: a service that creates or qualifies a lead calls `routing_request`
inside its transaction. The request row commits with the lead; right after
the commit the same web process routes it (no queue hop: the fastest path to
an assignment), and a beat sweep routes any request a crash left pending.

Concurrency: the lead row is locked first (one decision per lead at a time),
then every pool the decision may draw from, in id order, then the routing
profiles of capped people, in id order. Fair rotation and caps are therefore
decided on a consistent view, and a partial unique index on live assignments
makes a double assignment impossible even if that reasoning were wrong.
"""

import contextvars
import logging
import time
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.db import OperationalError, connection, transaction
from django.db.models import F, Max
from django.utils import timezone

from apps.core.errors import ServiceError
from apps.execution import calendars
from apps.execution.models import (
    Assignment,
    PoolMember,
    RejectReason,
    RepProfile,
    RoutingDecision,
    RoutingPool,
    RoutingRequest,
)
from apps.execution.models.routing import Trigger
from apps.execution.routing import engine, types
from apps.integrations.services import outbox_emit
from apps.records.models import Lead, Origin
from apps.records.stages import DETOUR

from . import decisions, facts, notifications, ownership, policies, sla

log = logging.getLogger(__name__)

_deferred: contextvars.ContextVar[list | None] = contextvars.ContextVar("routing_deferred", default=None)


@contextmanager
def routing_deferred():
    """Route the requests made inside this block on a worker, in one task,
    instead of one by one in this process (bulk ingest, merges)."""
    token = _deferred.set([])
    try:
        yield
    finally:
        ids = _deferred.get()
        _deferred.reset(token)
        if ids:
            from apps.execution.tasks import route_requests

            transaction.on_commit(lambda: route_requests.delay(ids), robust=True)


def routing_request(*, org, lead: Lead, trigger: str, exclude=()) -> RoutingRequest | None:
    """Ask for `lead` to be routed once the current transaction commits."""
    if policies.published_policy(org) is None:
        return None
    request = RoutingRequest.objects.create(
        organization=org, lead=lead, trigger=trigger, exclude=list(exclude)
    )
    enqueue(request)
    return request


def enqueue(request: RoutingRequest) -> None:
    """Route a request just written once its transaction commits: here, or on a worker
    when inside `routing_deferred`. The beat sweep catches whatever neither reaches."""
    deferred = _deferred.get()
    if deferred is not None:
        deferred.append(request.pk)
    else:
        transaction.on_commit(lambda: _route_after_commit(request.pk), robust=True)


def _route_after_commit(request_id: int) -> None:
    route_request_or_retry(request_id=request_id)


def route_request_or_retry(*, request_id: int) -> RoutingDecision | None:
    """`route_request` for callers that go on to other work: a failure is logged and
    counted, and the request stays pending for the beat sweep to retry."""
    try:
        return route_request(request_id=request_id)
    except Exception as error:
        if type(error).__name__ == "SoftTimeLimitExceeded":
            raise  # the task's time is up, not this request's fault
        log.exception("Routing request %s failed; the sweep will retry it", request_id)
        RoutingRequest.objects.filter(pk=request_id).update(
            attempts=F("attempts") + 1, last_error=f"{type(error).__name__}: {error}"[:500]
        )
        return None


def route_request(*, request_id: int, now: datetime | None = None) -> RoutingDecision | None:
    """Decide and apply one pending request; safe to call twice or concurrently."""
    with transaction.atomic():
        request = (
            # of=self: FOR UPDATE on the joined organisation row would skip this request whenever
            # any other transaction is inserting a row of the same organisation (a foreign-key
            # share lock), leaving fresh leads to the sweep instead of routing them now.
            RoutingRequest.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("organization")
            .filter(pk=request_id, status=RoutingRequest.Status.PENDING)
            .first()
        )
        if request is None:
            return None
        if request.lead_id is None:
            decision = ownership.route(request, now=now or timezone.now())
        else:
            decision = _route(request, now=now or timezone.now())
        request.status = RoutingRequest.Status.DONE
        request.done_at = timezone.now()
        request.attempts += 1
        request.save(update_fields=["status", "done_at", "attempts", "updated_at"])
        return decision


def _route(request: RoutingRequest, *, now: datetime) -> RoutingDecision | None:
    started = time.perf_counter()
    org = request.organization
    lead = (
        facts.with_segment_keys(Lead.objects.select_for_update(of=("self",)), org)
        .select_related("account", "stage")
        .get(pk=request.lead_id, organization=org)
    )
    if lead.merged_into_id or lead.stage.kind == DETOUR or lead.stage.key == "customer":
        return None  # merged away, or no longer a lead to work (a request made before it left)
    history = facts.lead_history(org, lead.pk)
    if any(status in Assignment.LIVE for _, status in history):
        return None  # someone already has it: nothing to decide
    policy = policies.published_policy(org)
    if policy is None:
        return None
    rules = policy.rules
    lead_facts = facts.lead_facts(
        org, lead, now=now, exclude=request.exclude, history=history[: facts.HISTORY_LIMIT]
    )

    pool_ids = {r.action.pool for r in rules if r.action.pool and engine.rule_matches(r, lead_facts)}
    if policy.fallback_pool_id:
        pool_ids.add(policy.fallback_pool_id)
    pools, pool_rows = facts.pools_with_members(org, pool_ids)
    people_ids = {row.membership_id for row in pool_rows}
    people_ids |= {r.action.person for r in rules if r.action.person}
    people_ids |= {p for p in (lead_facts.account_owner, lead_facts.previous_owner) if p}
    need_loads = any(p.strategy in (types.LOAD_BALANCED, types.CAPACITY) for p in pools.values())
    base = facts.candidates(org, people_ids, now=now, need_loads=need_loads)
    engine_pools = facts.pool_records(org, pool_ids, base, pools.values(), rows=pool_rows)
    decision = _decide_under_locks(org, rules, lead_facts, policy, pools, base, engine_pools, now=now)

    record = decisions.decision_record(request, policy, decision, now=now, lead=lead)
    if decision.outcome == types.ASSIGNED:
        _offer(org, lead, record, decision, now=now)
    record.timings["decide_ms"] = round((time.perf_counter() - started) * 1000, 1)
    record.save(update_fields=["timings"])
    return record


def _decide_under_locks(org, rules, lead_facts, policy, pools, base, engine_pools, *, now) -> types.Decision:
    """Decide on an unlocked read, then confirm on a locked, fresh one.

    Locks are held until the commit, so they are taken as late and as narrowly
    as possible: only the pool the decision drew from, and the routing profile
    of a capped assignee. Once locked, that pool's ledger and the assignee's
    loads are read again and the decision is made again; it stands when it
    draws on nothing unlocked. Round robin and caps are thereby decided on a
    consistent view while decisions for other pools run in parallel.
    """
    locked_pools: set[int] = set()
    locked_people: set[int] = set()
    for _ in range(4):
        decision = engine.decide(
            rules, lead_facts, pools=engine_pools, people=base, fallback_pool=policy.fallback_pool_id
        )
        if decision.outcome != types.ASSIGNED:
            return decision
        pool_id, person = decision.pool, decision.assignee
        capped = base[person].daily_cap is not None or base[person].open_cap is not None
        if (pool_id is None or pool_id in locked_pools) and (not capped or person in locked_people):
            return decision
        members = {person}
        if pool_id is not None and pool_id not in locked_pools:
            _lock_pool(pool_id)
            locked_pools.add(pool_id)
            members |= {c.id for c in engine_pools[pool_id].members}
        _lock_capped_profiles(org, members - locked_people)
        locked_people |= members
        need_loads = pool_id is not None and pools[pool_id].strategy in (types.LOAD_BALANCED, types.CAPACITY)
        base = {**base, **facts.candidates(org, members, now=now, need_loads=need_loads or capped)}
        engine_pools = {
            **engine_pools,
            **facts.pool_records(org, list(locked_pools), base, [pools[pk] for pk in locked_pools]),
        }
    raise ServiceError("Routing could not settle on a decision; it will be retried.", code="unsettled")


# The two locks a decision takes, in this order (pool, then capped profiles by id), as SQL:
# they run for most leads, and building their querysets cost more than the round trips.


def _lock_pool(pool_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM execution_routingpool WHERE id = %s FOR UPDATE", [pool_id])
        if cursor.fetchone() is None:
            raise RoutingPool.DoesNotExist(f"Pool {pool_id} is gone.")


def _lock_capped_profiles(org, people_ids) -> None:
    if not people_ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT id FROM execution_repprofile
            WHERE organization_id = %(org)s AND membership_id = ANY(%(people)s)
              AND NOT (daily_cap IS NULL AND open_cap IS NULL)
            ORDER BY id
            FOR UPDATE
            """,
            {"org": org.pk, "people": sorted(people_ids)},
        )


def _offer(
    org, lead: Lead, record: RoutingDecision, decision: types.Decision, *, now: datetime
) -> Assignment:
    assignment = Assignment.objects.create(
        organization=org,
        lead=lead,
        decision=record,
        assignee_id=decision.assignee,
        pool_id=decision.pool,
        offered_at=now,
    )
    decisions.ledger_advance(decision, now=now)
    sla.timers_start(org=org, assignment=assignment, lead=lead)
    outbox_emit(
        org=org,
        event_type="lead.routed",
        data={
            "lead": lead.pk,
            "assignment": assignment.pk,
            "assignee": decision.assignee,
            "pool": decision.pool,
            "rule": decision.rule_name,
            "decision": record.pk,
        },
    )
    notifications.notify(
        org=org,
        recipient_id=decision.assignee,
        kind="lead.routed",
        title=f"New lead: {lead}",
        body=f"Offered by {decision.rule_name or 'routing'}. Accept or reject it in your inbox.",
        url=f"/o/{org.slug}/inbox/",
        lead=lead,
    )
    return assignment


# --- What reps and managers do with an offer ---------------------------------


def _live(org, assignment_id: int, *, wait: bool = True) -> Assignment:
    """The assignment, locked, after its lead: every writer takes the lead first
    (routing, stage changes, accept, reject, reassign), so none waits on another
    in a cycle. `wait=False` (the SLA sweep) raises `LeadBusy` instead of waiting."""
    lead_id = (
        Assignment.objects.for_org(org).filter(pk=assignment_id).values_list("lead_id", flat=True).first()
    )
    if lead_id is not None:
        locked = (
            Lead.objects.select_for_update(of=("self",), nowait=not wait)
            .filter(pk=lead_id, organization=org)
            .values_list("pk", flat=True)
        )
        try:
            list(locked)
        except OperationalError as error:
            raise LeadBusy(f"Lead {lead_id} is being changed; the step will be retried.") from error
    assignment = (
        Assignment.objects.for_org(org)
        .select_for_update(of=("self",))
        .select_related("lead", "lead__stage")
        .filter(pk=assignment_id)
        .first()
    )
    if assignment is None:
        raise ServiceError("No such assignment.", code="not_found")
    return assignment


class LeadBusy(ServiceError):
    def __init__(self, message: str):
        super().__init__(message, code="busy")


@transaction.atomic
def assignment_accept(
    *, org, assignment: Assignment, actor, now: datetime | None = None, origin: str = Origin.UI, api_key=None
) -> Assignment:
    from apps.records import services as records

    now = now or timezone.now()
    assignment = _live(org, assignment.pk)
    if assignment.status != Assignment.Status.OFFERED:
        raise ServiceError(
            f"This lead is already {assignment.get_status_display().lower()}.", code="not_offered"
        )
    assignment.status = Assignment.Status.ACCEPTED
    assignment.accepted_at = now
    assignment.actor = actor
    assignment.save(update_fields=["status", "accepted_at", "actor", "updated_at"])
    lead = assignment.lead
    Lead.objects.filter(pk=lead.pk).update(owner_id=assignment.assignee_id, updated_at=now)
    lead.owner_id = assignment.assignee_id
    sla.timers_meet(org=org, assignment=assignment, clock=sla.Clock.ACCEPT, at=now)
    stages = records.stages_by_key(org)
    if "sal" in stages and lead.stage.kind == "funnel" and lead.stage.order < stages["sal"].order:
        records.lead_change_stage(
            org=org,
            lead=lead,
            to="sal",
            actor=actor,
            api_key=api_key,
            origin=origin,
            reason="Accepted by the assigned rep",
            at=now,
        )
    outbox_emit(
        org=org,
        event_type="assignment.accepted",
        data={"assignment": assignment.pk, "lead": lead.pk, "assignee": assignment.assignee_id},
    )
    return assignment


@transaction.atomic
def assignment_reject(
    *, org, assignment: Assignment, actor, reason: RejectReason, note: str = "", now: datetime | None = None
) -> Assignment:
    """Reject an offer: the lead is routed again, to someone else, and the
    rejecting rep is given their turn back so rejecting costs them nothing."""
    now = now or timezone.now()
    if reason is None or reason.organization_id != org.pk or not reason.is_active:
        raise ServiceError("Choose a reason.", field="reason")
    assignment = _live(org, assignment.pk)
    if assignment.status != Assignment.Status.OFFERED:
        raise ServiceError(
            f"This lead is already {assignment.get_status_display().lower()}.", code="not_offered"
        )
    assignment.status = Assignment.Status.REJECTED
    assignment.rejected_at = now
    assignment.reject_reason = reason
    assignment.reject_note = note[:500]
    assignment.actor = actor
    assignment.save(
        update_fields=["status", "rejected_at", "reject_reason", "reject_note", "actor", "updated_at"]
    )
    if assignment.pool_id:
        # The ledger is written under the pool's lock, as routing writes it.
        RoutingPool.objects.select_for_update().filter(pk=assignment.pool_id).values_list(
            "pk", flat=True
        ).first()
        member = (
            PoolMember.objects.select_related("pool")
            .filter(pool_id=assignment.pool_id, membership_id=assignment.assignee_id)
            .first()
        )
        if member:
            stride = 1 / max(member.weight, 1) if member.pool.strategy == types.WEIGHTED else 1
            # The turn comes back whole: the pass, and the "longest waiting" tie-break as it
            # stood before this offer (offers given back earlier do not count either), or a
            # rep tied with others would still wait a round.
            previous_offer = (
                Assignment.objects.for_org(org)
                .filter(pool_id=assignment.pool_id, assignee_id=assignment.assignee_id)
                .exclude(status=Assignment.Status.REJECTED)
                .aggregate(at=Max("offered_at"))["at"]
            )
            PoolMember.objects.filter(pk=member.pk).update(
                pass_value=F("pass_value") - stride,
                last_assigned_at=previous_offer,
                rejected_count=F("rejected_count") + 1,
                credits=F("credits") + 1,
                updated_at=now,
            )
    sla.timers_cancel(org=org, assignment=assignment)
    outbox_emit(
        org=org,
        event_type="assignment.rejected",
        data={
            "assignment": assignment.pk,
            "lead": assignment.lead_id,
            "assignee": assignment.assignee_id,
            "reason": reason.key,
            "note": note,
        },
    )
    routing_request(org=org, lead=assignment.lead, trigger=Trigger.REJECTED, exclude=[assignment.assignee_id])
    return assignment


@transaction.atomic
def assignment_reassign(
    *,
    org,
    assignment: Assignment,
    actor=None,
    to=None,
    trigger: str = Trigger.REASSIGNED,
    note: str = "",
    wait: bool = True,
) -> Assignment | None:
    """End a live assignment and offer the lead to `to`, or route it again
    without the current assignee. Returns the new assignment when `to` is given."""
    now = timezone.now()
    assignment = _live(org, assignment.pk, wait=wait)
    if not assignment.is_live:
        raise ServiceError("Only an offered or accepted lead can be reassigned.", code="not_live")
    if to is not None and to.organization_id != org.pk:
        raise ServiceError("Choose a member of this organisation.", field="to")
    assignment.status = Assignment.Status.REASSIGNED
    assignment.closed_at = now
    assignment.actor = actor
    assignment.reject_note = note[:500]
    assignment.save(update_fields=["status", "closed_at", "actor", "reject_note", "updated_at"])
    sla.timers_cancel(org=org, assignment=assignment)
    lead = assignment.lead
    if to is None:
        routing_request(org=org, lead=lead, trigger=trigger, exclude=[assignment.assignee_id])
        return None
    who = actor.display_name if actor else "a manager"
    record = RoutingDecision.objects.create(
        organization=org,
        lead=lead,
        trigger=trigger,
        outcome=types.ASSIGNED,
        rule_name=f"Reassigned by {who}",
        assignee=to,
        considered=[{"candidate": to.pk, "name": to.user.display_name, "excluded": None, "pool": None}],
        trail=[
            f"Reassigned by {who} from {assignment.assignee.user.display_name} to {to.user.display_name}."
        ],
    )
    return _offer(
        org,
        lead,
        record,
        types.Decision(outcome=types.ASSIGNED, assignee=to.pk, rule_name=record.rule_name),
        now=now,
    )


def routing_retry_held(*, org, lead: Lead) -> RoutingRequest | None:
    """A lead held for data is routed again once an edit has made it more complete."""
    last = (
        RoutingDecision.objects.for_org(org)
        .filter(lead=lead)
        .order_by("-created_at", "-pk")
        .values_list("outcome", flat=True)
        .first()
    )
    if last != types.HELD:
        return None
    if RoutingRequest.objects.filter(lead=lead, status=RoutingRequest.Status.PENDING).exists():
        return None
    return routing_request(org=org, lead=lead, trigger=Trigger.DATA_COMPLETE)


def assignments_close_for_lead(*, org, lead: Lead, now: datetime | None = None) -> int:
    """A lead that left the working funnel (won, disqualified, recycled) frees its rep's capacity."""
    live = list(
        Assignment.objects.for_org(org).select_for_update().filter(lead=lead, status__in=Assignment.LIVE)
    )
    for assignment in live:
        assignment.status = Assignment.Status.CLOSED
        assignment.closed_at = now or timezone.now()
        assignment.save(update_fields=["status", "closed_at", "updated_at"])
        sla.timers_cancel(org=org, assignment=assignment)
    return len(live)


# Someone without a routing profile has no working hours; a profile created only to record
# availability keeps it that way (the model's default would start applying 9 to 5).
_NO_HOURS = {day: [["00:00", "24:00"]] for day in calendars.WEEKDAYS}


def rep_set_available(*, org, membership, available: bool) -> RepProfile:
    profile, _ = RepProfile.objects.get_or_create(
        organization=org, membership=membership, defaults={"hours": _NO_HOURS}
    )
    profile.available = available
    profile.save(update_fields=["available", "updated_at"])
    return profile


def requests_pending(*, older_than_seconds: int = 5, limit: int = 500) -> list[int]:
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        RoutingRequest.objects.filter(status=RoutingRequest.Status.PENDING, created_at__lte=cutoff)
        # Requests that keep failing go last, so they cannot crowd the others out of a batch.
        .order_by("attempts", "created_at")
        .values_list("pk", flat=True)[:limit]
    )
