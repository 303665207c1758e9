"""Shared fixtures for execution tests: reps, pools and a published routing policy.

Everything is built through the real services or as the plain model rows the
services read. `route_pending` routes a lead's pending requests directly,
because on-commit routing never fires inside a test's transaction (use
`django_capture_on_commit_callbacks(execute=True)` to run the real after-commit
path instead).
"""

import itertools

import pytest

from apps.accounts.roles import Role
from apps.execution import calendars
from apps.execution.models import PoolMember, RejectReason, RepProfile, RoutingDecision, RoutingPool
from apps.execution.models.routing import RoutingRequest
from apps.execution.routing import types
from apps.execution.services import policies, routing
from apps.records import services as records
from tests import factories

# Reps work around the clock unless a test gives them hours, so that routing
# does not depend on when the suite runs.
ALL_DAY = {day: [["00:00", "24:00"]] for day in calendars.WEEKDAYS}

_emails = itertools.count(1)


def make_rep(org, name, *, role=Role.SALES_REP, time_zone="", hours=None, **profile):
    """A member with a routing profile (available, caps from `profile`)."""
    user = factories.make_user(full_name=name)
    membership = factories.make_member(org, role=role, user=user)
    RepProfile.objects.create(
        organization=org, membership=membership, time_zone=time_zone, hours=hours or ALL_DAY, **profile
    )
    return membership


def pool_with_reps(
    org, reps, *, name="SDRs", strategy=types.ROUND_ROBIN, team=None, weights=(), territories=()
):
    """A pool with `reps` as active members; `weights` / `territories` line up with `reps`."""
    pool = RoutingPool.objects.create(organization=org, name=name, strategy=strategy, team=team)
    for index, rep in enumerate(reps):
        PoolMember.objects.create(
            organization=org,
            pool=pool,
            membership=rep,
            weight=weights[index] if weights else 1,
            territories=list(territories[index]) if territories else [],
        )
    return pool


def publish_policy(org, *, rules=(), fallback_pool=None, actor=None, object_type="lead"):
    """Publish the routing policy of `object_type` (leads unless told) with `rules`
    (stored JSON) and a fallback queue."""
    policy = policies.policy_for(org, object_type)
    policies.draft_update(org=org, policy=policy, rules=list(rules), fallback_pool=fallback_pool, actor=actor)
    return policies.policy_publish(org=org, policy=policy, actor=actor)


def pool_rule(pool, name="To the pool", *conditions):
    return {
        "name": name,
        "conditions": list(conditions),
        "action": {"type": types.ASSIGN_POOL, "pool": pool.pk},
    }


def new_lead(org, **fields):
    """A lead through `lead_create`. Inside a test transaction its routing request stays
    pending (see `route_pending`); outside one it is routed on commit, as in production."""
    if not any(fields.get(key) for key in ("email", "first_name", "last_name", "external_id")):
        fields["email"] = f"lead{next(_emails)}@example.com"
    return records.lead_create(org=org, **fields)


def route_pending(lead, *, now=None) -> RoutingDecision | None:
    """Route the lead's pending requests, oldest first; the last decision made."""
    decision = None
    for request_id in (
        RoutingRequest.objects.filter(lead=lead, status=RoutingRequest.Status.PENDING)
        .order_by("pk")
        .values_list("pk", flat=True)
    ):
        decision = routing.route_request(request_id=request_id, now=now) or decision
    return decision


def route_new_lead(org, *, now=None, **fields) -> RoutingDecision | None:
    return route_pending(new_lead(org, **fields), now=now)


def excluded(decision) -> dict[int, str | None]:
    """Candidate id → exclusion key, as the decision recorded it (the last mention wins)."""
    return {entry["candidate"]: entry["excluded"] for entry in decision.considered}


@pytest.fixture
def reps(org):
    """Three sales reps, Ana, Bo and Cy, free around the clock."""
    return [make_rep(org, name) for name in ("Ana Ruiz", "Bo Lind", "Cy Chan")]


@pytest.fixture
def reason(org):
    reason, _ = RejectReason.objects.get_or_create(
        organization=org, key="not_my_territory", defaults={"label": "Not my territory"}
    )
    return reason
