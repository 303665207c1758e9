"""What routing reads, and what an ingested lead costs.

A lead POSTed through the API is created and routed in the same request, so its
statements are pinned here for the shapes that matter: a pool decision (which
locks the pool and reads it again) and an account-owner decision (which locks
nothing). The SQL helpers the decision uses are checked against the rows they read.
"""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from apps.accounts import services as accounts
from apps.accounts.models import User
from apps.execution.models import (
    Assignment,
    BusinessCalendar,
    OutOfOffice,
    PoolMember,
    RoutingDecision,
    SlaPolicy,
    SlaTimer,
)
from apps.execution.routing import types
from apps.execution.services import facts, policies
from apps.records import services as records
from tests import factories

from .conftest import make_rep, pool_rule, pool_with_reps, publish_policy

pytestmark = pytest.mark.django_db

# Statements of one POST /api/v1/leads/ routed to a pool, with an SLA (the API key was
# used a moment before, so its last-used stamp is not written again):
# creating the lead, 12: savepoint, custom fields, account match, stages, completeness
#   rules, the lead, its stage event, e-mail duplicates, the outbox event, the published
#   policy, the routing request, release;
# routing it, 22: savepoint, the request, the lead, its history, the published policy, the
#   previous owner, pools with members, people, the pool lock, the capped-profile lock,
#   people and members again, the decision, the assignment, the ledger, SLA policies, the
#   timer, the outbox event, the notification, the decision's timing, the request, release.
POOL_DECISION_STATEMENTS = 12 + 22
# An account owner takes the lead directly: no locks, no second read, no ledger.
OWNER_DECISION_STATEMENTS = 12 + 22 - 5


@pytest.fixture
def world(org, owner):
    ana, bob = make_rep(org, "Ana Ruiz"), make_rep(org, "Bob Lee")
    pool = pool_with_reps(org, [ana, bob], name="EMEA SDRs")
    owned = records.account_create(org=org, name="Acme", domain="acme.test", owner=bob)
    account_rule = {
        "name": "Named accounts",
        "conditions": [{"field": "account.has_owner", "op": "equals", "value": True}],
        "action": {"type": types.ASSIGN_ACCOUNT_OWNER, "pool": pool.pk},
    }
    publish_policy(org, rules=[account_rule, pool_rule(pool, "Everyone")], fallback_pool=pool, actor=owner)
    SlaPolicy.objects.create(organization=org, name="Accept in 15", clock="accept", target_minutes=15)
    return {"ana": ana, "bob": bob, "pool": pool, "account": owned}


def post_lead(api, email):
    response = api.post("/api/v1/leads/", {"email": email}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


@pytest.mark.parametrize(
    ("email", "statements", "assignee", "rule"),
    [
        ("jo@elsewhere.test", POOL_DECISION_STATEMENTS, "ana", "Everyone"),
        ("jo@acme.test", OWNER_DECISION_STATEMENTS, "bob", "Named accounts"),
    ],
)
def test_a_routed_lead_costs_a_fixed_number_of_statements(
    api, org, world, email, statements, assignee, rule,
    django_assert_num_queries, django_capture_on_commit_callbacks,
):  # fmt: skip
    post_lead(api, "warm@elsewhere.test")  # routed inside the test transaction: stays pending

    with django_assert_num_queries(statements), django_capture_on_commit_callbacks(execute=True):
        lead_id = post_lead(api, email)

    decision = RoutingDecision.objects.get(lead_id=lead_id)
    assert (decision.outcome, decision.rule_name) == ("assigned", rule)
    assert decision.assignee_id == world[assignee].pk
    offer = Assignment.objects.get(lead_id=lead_id)
    assert SlaTimer.objects.filter(assignment=offer, clock="accept").count() == 1


def test_the_published_policy_is_read_fresh_after_each_publish(org, owner, reps):
    assert policies.published_policy(org) is None
    first = pool_with_reps(org, reps[:1], name="First")
    v1 = publish_policy(org, rules=[pool_rule(first, "One")], actor=owner)
    assert policies.published_policy(org) == (v1.pk, None, policies.rules_for_engine(v1.rules))

    second = pool_with_reps(org, reps[1:], name="Second")
    v2 = publish_policy(org, rules=[pool_rule(second, "Two")], fallback_pool=first, actor=owner)

    published = policies.published_policy(org)
    assert (published.version_id, published.fallback_pool_id) == (v2.pk, first.pk)
    assert [(r.name, r.action.pool) for r in published.rules] == [("Two", second.pk)]


def test_another_orgs_policy_is_not_read(org, other_org, owner, reps):
    publish_policy(org, rules=[pool_rule(pool_with_reps(org, reps))], actor=owner)
    assert policies.published_policy(other_org) is None


def test_pools_come_with_their_active_members_in_order_and_empty_pools_too(org, reps):
    ana, bo, cy = reps
    full = pool_with_reps(org, [cy, ana, bo], name="Full", territories=[["de"], [], ["US", "CA"]])
    PoolMember.objects.filter(pool=full, membership=ana).update(is_active=False)
    served = timezone.now()
    PoolMember.objects.filter(pool=full, membership=bo).update(pass_value=2.5, last_assigned_at=served)
    empty = pool_with_reps(org, [], name="Empty")

    pools, rows = facts.pools_with_members(org, {full.pk, empty.pk})

    assert {pk: (p.name, p.strategy) for pk, p in pools.items()} == {
        full.pk: ("Full", types.ROUND_ROBIN),
        empty.pk: ("Empty", types.ROUND_ROBIN),
    }
    # Ana is inactive in the pool; the others in the order they joined.
    assert [(r.pool_id, r.membership_id, r.territories, r.pass_value, r.last_assigned_at) for r in rows] == [
        (full.pk, cy.pk, ["de"], 0.0, None),
        (full.pk, bo.pk, ["US", "CA"], 2.5, served),
    ]
    assert rows == facts.pool_members(org, {full.pk, empty.pk})
    assert facts.pools_with_members(org, set()) == ({}, [])


def test_another_orgs_pools_are_not_read(org, other_org, reps):
    pool = pool_with_reps(org, reps, name="Ours")
    assert facts.pools_with_members(other_org, {pool.pk}) == ({}, [])
    assert facts.pool_members(other_org, {pool.pk}) == []


def test_working_hours_are_parsed_once_per_distinct_hours(org):
    hours = {"mon": [["09:00", "17:00"]]}
    facts._working_hours.cache_clear()
    first = facts._working_hours("Europe/Paris", json.dumps(hours))
    again = facts._working_hours("Europe/Paris", json.dumps(hours))
    other = facts._working_hours("Europe/Paris", json.dumps({"tue": [["09:00", "17:00"]]}))

    assert first is again and other is not first
    assert facts._working_hours.cache_info().hits == 1


def test_people_get_the_holidays_of_every_team_and_nothing_of_another_org(org, other_org):
    wednesday, thursday, friday = (datetime(2026, 3, day, 12, 0, tzinfo=UTC) for day in (11, 12, 13))
    rep = make_rep(org, "Two teams")
    for name, day in (("North", "2026-03-11"), ("South", "2026-03-12")):
        team = accounts.team_create(org=org, name=name, members=[rep])
        BusinessCalendar.objects.create(organization=org, name=name, team=team, holidays=[{"date": day}])
    # A person without a routing profile has no working hours, so none apply to them.
    plain = factories.make_member(org, user=factories.make_user(email="no.profile@acme.test"))
    User.objects.filter(pk=plain.user_id).update(full_name="")  # named after the e-mail, then
    # A row of another organisation that points at one of these people is not theirs.
    OutOfOffice.objects.create(
        organization=other_org,
        membership=plain,
        starts_at=friday - timedelta(hours=1),
        ends_at=friday + timedelta(hours=1),
    )

    def people(now, of=org):
        return facts.candidates(of, {rep.pk, plain.pk}, now=now, need_loads=False)

    def unavailable(now):
        return {pk: candidate.unavailable for pk, candidate in people(now).items()}

    assert unavailable(wednesday) == {rep.pk: types.HOLIDAY, plain.pk: None}
    assert unavailable(thursday) == {rep.pk: types.HOLIDAY, plain.pk: None}
    assert unavailable(friday) == {rep.pk: None, plain.pk: None}
    assert {pk: c.name for pk, c in people(friday).items()} == {rep.pk: "Two teams", plain.pk: "no.profile"}
    assert people(friday, of=other_org) == {}
