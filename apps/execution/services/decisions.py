"""What every routing decision writes, whatever it routes: the explained decision row and,
when a pool chose the person, their turn in the pool's fairness ledger."""

from datetime import datetime

from django.db.models import F

from apps.execution.models import PoolMember, RoutingDecision, RoutingRequest
from apps.execution.routing import types


def decision_record(
    request: RoutingRequest, policy, decision: types.Decision, *, now: datetime, **subject
) -> RoutingDecision:
    """The decision as the engine made it; `subject` is lead=, account= or opportunity=."""
    return RoutingDecision.objects.create(
        organization=request.organization,
        request=request,
        policy_version_id=policy.version_id,
        trigger=request.trigger,
        outcome=decision.outcome,
        rule_index=decision.rule_index,
        rule_name=decision.rule_name[:200],
        assignee_id=decision.assignee,
        pool_id=decision.pool,
        considered=[c.__dict__ for c in decision.considered],
        trail=decision.trail,
        timings={"queued_ms": round((now - request.created_at).total_seconds() * 1000, 1)},
        **subject,
    )


def ledger_advance(decision: types.Decision, *, now: datetime) -> None:
    """The assignee took a turn in the pool they were chosen from (nothing for a named person)."""
    if decision.pool is None:
        return
    PoolMember.objects.filter(pool_id=decision.pool, membership_id=decision.assignee).update(
        pass_value=decision.new_pass,
        last_assigned_at=now,
        assigned_count=F("assigned_count") + 1,
        updated_at=now,
    )
