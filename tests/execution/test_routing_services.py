"""Routing through the database: strategies, exclusions, rejections and the request outbox.

The engine's logic is tested without a database in test_routing_engine.py; here
each behaviour goes through `route_request`, so the facts the database layer
resolves (absences, hours, holidays, caps, loads, the fairness ledger) are
what is being checked. Expected assignees are worked out by hand.
"""

from collections import Counter
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.utils import timezone

from apps.accounts import services as accounts
from apps.accounts.roles import Role
from apps.core.errors import ServiceError
from apps.execution import tasks
from apps.execution.models import (
    Assignment,
    BusinessCalendar,
    OutOfOffice,
    PoolMember,
    RoutingDecision,
    RoutingRequest,
    SlaTimer,
)
from apps.execution.routing import engine, types
from apps.execution.services import routing
from apps.records import services as records
from apps.records.models import Lead, StageEvent
from tests import factories

from .conftest import (
    excluded,
    make_rep,
    new_lead,
    pool_rule,
    pool_with_reps,
    publish_policy,
    route_new_lead,
    route_pending,
)

pytestmark = pytest.mark.django_db

# A Wednesday, 03:00 UTC: early morning in Europe, noon in Tokyo, the evening before in California.
WED_3AM = datetime(2026, 3, 11, 3, 0, tzinfo=UTC)
OFFICE_HOURS = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def assignees(decisions):
    return [d.assignee_id for d in decisions]


def live_assignments(org, rep, n, *, status=Assignment.Status.OFFERED, offered_at=None):
    """`n` leads already assigned to `rep` outside routing (their requests stay pending)."""
    for _ in range(n):
        Assignment.objects.create(
            organization=org,
            lead=new_lead(org),
            assignee=rep,
            status=status,
            offered_at=offered_at or timezone.now(),
        )


def ledger(pool, rep):
    return PoolMember.objects.get(pool=pool, membership=rep)


# --- Strategies ---------------------------------------------------------------------------------


def test_round_robin_takes_turns_in_order(org, reps):
    pool = pool_with_reps(org, reps)
    publish_policy(org, rules=[pool_rule(pool)])

    decisions = [route_new_lead(org) for _ in range(6)]

    ana, bo, cy = (rep.pk for rep in reps)
    assert assignees(decisions) == [ana, bo, cy, ana, bo, cy]
    assert all(d.outcome == types.ASSIGNED and d.pool_id == pool.pk for d in decisions)
    for rep in reps:
        member = ledger(pool, rep)
        assert (member.assigned_count, member.pass_value) == (2, 2.0)
        assert Assignment.objects.filter(assignee=rep, status="offered").count() == 2
    # Each lead has exactly one offer, linked to its decision.
    for decision in decisions:
        assert list(decision.assignments.values_list("assignee_id", flat=True)) == [decision.assignee_id]


def test_weighted_round_robin_shares_by_weight(org, reps):
    light, heavy = reps[:2]
    pool = pool_with_reps(org, [light, heavy], strategy=types.WEIGHTED, weights=[1, 3])
    publish_policy(org, rules=[pool_rule(pool)])

    decisions = [route_new_lead(org) for _ in range(8)]

    assert Counter(assignees(decisions)) == {light.pk: 2, heavy.pk: 6}
    assert ledger(pool, light).pass_value == pytest.approx(2.0)
    assert ledger(pool, heavy).pass_value == pytest.approx(2.0)


def test_load_balanced_counts_only_live_assignments(org, reps):
    ana, bo, cy = reps
    pool = pool_with_reps(org, reps, strategy=types.LOAD_BALANCED)
    publish_policy(org, rules=[pool_rule(pool)])
    live_assignments(org, ana, 1)
    live_assignments(org, ana, 1, status=Assignment.Status.ACCEPTED)
    live_assignments(org, bo, 1)
    # Finished work is not load.
    live_assignments(org, bo, 2, status=Assignment.Status.CLOSED)
    live_assignments(org, cy, 3, status=Assignment.Status.REJECTED)

    decisions = [route_new_lead(org) for _ in range(3)]

    # Open loads 2/1/0: Cy; then Bo and Cy tie at 1 and Bo has not had a turn; then Cy (1 open vs 2).
    assert assignees(decisions) == [cy.pk, bo.pk, cy.pk]
    assert excluded(decisions[0]) == {ana.pk: types.NOT_ITS_TURN, bo.pk: types.NOT_ITS_TURN, cy.pk: None}


def test_capacity_gives_the_most_headroom_first(org):
    ana = make_rep(org, "Ana Ruiz", open_cap=4)
    bo = make_rep(org, "Bo Lind", open_cap=10)
    cy = make_rep(org, "Cy Chan", open_cap=2)
    pool = pool_with_reps(org, [ana, bo, cy], strategy=types.CAPACITY)
    publish_policy(org, rules=[pool_rule(pool)])
    live_assignments(org, ana, 1)  # headroom 3
    live_assignments(org, bo, 5)  # headroom 5
    live_assignments(org, cy, 2)  # full

    decisions = [route_new_lead(org) for _ in range(3)]

    # Bo 5 → Bo 4 → tie at 3 with Ana, who has had no turn yet.
    assert assignees(decisions) == [bo.pk, bo.pk, ana.pk]
    assert excluded(decisions[0])[cy.pk] == types.OPEN_CAP


def test_territory_matches_lead_country_or_account_region(org, reps):
    ana, bo, cy = reps
    pool = pool_with_reps(org, reps, strategy=types.TERRITORY, territories=[["fr", "DE"], ["EMEA"], ["US"]])
    publish_policy(org, rules=[pool_rule(pool)])
    records.account_create(org=org, name="Northwind", domain="northwind.co.uk", region="EMEA")

    french = route_new_lead(org, email="a@example.com", country="FR")
    british = route_new_lead(org, email="buyer@northwind.co.uk", country="GB")
    brazilian = route_new_lead(org, email="c@example.com", country="BR")

    assert french.assignee_id == ana.pk
    assert excluded(french) == {ana.pk: None, bo.pk: types.NOT_IN_TERRITORY, cy.pk: types.NOT_IN_TERRITORY}
    assert british.assignee_id == bo.pk  # by the matched account's region
    assert brazilian.outcome == types.QUEUED
    assert set(excluded(brazilian).values()) == {types.NOT_IN_TERRITORY}
    assert not Assignment.objects.filter(lead_id=brazilian.lead_id).exists()


# --- Actions ------------------------------------------------------------------------------------


@pytest.fixture
def owner_rep(org):
    return make_rep(org, "Dee Owner")


@pytest.fixture
def initech(org, owner_rep):
    return records.account_create(org=org, name="Initech", domain="initech.com", owner=owner_rep)


def owner_policy(org, pool):
    rule = {"name": "Account owner", "conditions": [], "action": {"type": "account_owner", "pool": pool.pk}}
    return publish_policy(org, rules=[rule])


def test_account_owner_gets_the_lead_of_a_matched_account(org, reps, owner_rep, initech):
    owner_policy(org, pool_with_reps(org, reps))

    decision = route_new_lead(org, email="peter@initech.com")

    assert decision.assignee_id == owner_rep.pk
    assert decision.pool_id is None
    assert Lead.objects.get(pk=decision.lead_id).account_id == initech.pk
    assert excluded(decision) == {owner_rep.pk: None}
    assert "account owner" in decision.trail[-1]


def test_account_owner_out_of_office_falls_through_to_the_pool(org, reps, owner_rep, initech):
    pool = pool_with_reps(org, reps)
    owner_policy(org, pool)
    OutOfOffice.objects.create(
        organization=org,
        membership=owner_rep,
        starts_at=timezone.now() - timedelta(days=1),
        ends_at=timezone.now() + timedelta(days=1),
    )

    decision = route_new_lead(org, email="peter@initech.com")

    assert decision.assignee_id == reps[0].pk
    assert decision.pool_id == pool.pk
    assert decision.considered[0] == {
        "candidate": owner_rep.pk,
        "name": "Dee Owner",
        "excluded": types.OUT_OF_OFFICE,
        "pool": None,
    }
    assert any("Dee Owner skipped: out of office" in line for line in decision.trail)


def test_sticky_rule_returns_a_person_to_their_previous_owner(org, reps):
    pool = pool_with_reps(org, reps)
    sticky = {"name": "Same owner", "conditions": [], "action": {"type": "sticky", "pool": pool.pk}}
    publish_policy(org, rules=[sticky])
    bo = reps[1]
    records.lead_create(org=org, email="kim@example.com", owner=bo)  # owned: not routed

    again = route_new_lead(org, email="kim@example.com")
    stranger = route_new_lead(org, email="lou@example.com")

    assert again.assignee_id == bo.pk and again.pool_id is None
    assert stranger.assignee_id == reps[0].pk and stranger.pool_id == pool.pk
    assert any("No previous owner" in line for line in stranger.trail)


def test_direct_person_rule(org, reps, owner_rep):
    vip = {"field": "score", "op": "gte", "value": 90}
    rules = [
        {"name": "VIP", "conditions": [vip], "action": {"type": "person", "person": owner_rep.pk}},
        pool_rule(pool_with_reps(org, reps)),
    ]
    publish_policy(org, rules=rules)

    hot = route_new_lead(org, score=95)
    cold = route_new_lead(org, score=10)

    assert (hot.assignee_id, hot.rule_index, hot.rule_name) == (owner_rep.pk, 0, "VIP")
    assert cold.assignee_id == reps[0].pk and cold.rule_index == 1


def test_hold_for_data_assigns_nobody_until_complete(org, reps):
    hold = {"name": "Need data", "conditions": [], "action": {"type": "hold", "min_completeness": 0.8}}
    publish_policy(org, rules=[hold, pool_rule(pool_with_reps(org, reps))])

    thin = route_new_lead(org, email="thin@example.com")  # e-mail only: 3/12 of the default weights
    full = route_new_lead(
        org, email="full@acme-corp.com", first_name="Jo", last_name="Park", company="Acme Corp",
        title="CTO", country="FR", phone="+33 1 23 45 67 89", source="webinar",
    )  # fmt: skip

    assert thin.outcome == types.HELD and thin.assignee_id is None and thin.rule_index == 0
    assert not Assignment.objects.filter(lead_id=thin.lead_id).exists()
    assert RoutingRequest.objects.get(lead_id=thin.lead_id).status == RoutingRequest.Status.DONE
    assert "Lead held: completeness 25% is below 80%" in thin.trail
    assert full.outcome == types.ASSIGNED and full.assignee_id == reps[0].pk


def test_fallback_queue_takes_what_no_rule_assigns(org, reps):
    ana, bo, cy = reps
    french = pool_with_reps(org, [ana], name="France")
    fallback = pool_with_reps(org, [bo, cy], name="Everyone else")
    only_fr = {"field": "country", "op": "in", "value": ["FR"]}
    publish_policy(org, rules=[pool_rule(french, "France", only_fr)], fallback_pool=fallback)

    german = route_new_lead(org, country="DE")

    assert german.assignee_id == bo.pk and german.pool_id == fallback.pk
    assert german.rule_name == engine.FALLBACK_NAME and german.rule_index is None
    assert excluded(german) == {bo.pk: None, cy.pk: types.NOT_ITS_TURN}


def test_queued_when_nobody_is_eligible(org, reps):
    fallback = pool_with_reps(org, reps)
    publish_policy(org, fallback_pool=fallback)
    for rep in reps:
        routing.rep_set_available(org=org, membership=rep, available=False)

    decision = route_new_lead(org)

    assert decision.outcome == types.QUEUED
    assert decision.pool_id == fallback.pk and decision.assignee_id is None
    assert set(excluded(decision).values()) == {types.UNAVAILABLE}
    assert not Assignment.objects.filter(lead_id=decision.lead_id).exists()
    assert decision.trail[-1] == "Nobody eligible: the lead waits in the fallback queue"


# --- Exclusions ---------------------------------------------------------------------------------


def test_every_exclusion_is_resolved_from_the_database(org):
    now = WED_3AM
    away = make_rep(org, "Away")
    OutOfOffice.objects.create(
        organization=org,
        membership=away,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=1),
    )
    asleep = make_rep(org, "Asleep", time_zone="Europe/Paris", hours=OFFICE_HOURS)  # 04:00 in Paris
    on_holiday = make_rep(org, "On holiday")
    team = accounts.team_create(org=org, name="Nordics", members=[on_holiday])
    BusinessCalendar.objects.create(
        organization=org, name="Nordics", team=team, holidays=[{"date": "2026-03-11", "name": "Day off"}]
    )
    busy_today = make_rep(org, "Busy today", daily_cap=2)
    live_assignments(org, busy_today, 2, status=Assignment.Status.CLOSED, offered_at=now - timedelta(hours=2))
    full = make_rep(org, "Full", open_cap=1)
    live_assignments(org, full, 1)
    inactive = make_rep(org, "Gone")
    inactive.is_active = False
    inactive.save()
    off = make_rep(org, "Switched off")
    routing.rep_set_available(org=org, membership=off, available=False)
    tokyo = make_rep(org, "Tokyo", time_zone="Asia/Tokyo", hours=OFFICE_HOURS)  # noon there
    back = make_rep(org, "Back")  # an absence that ended exactly now no longer counts
    OutOfOffice.objects.create(
        organization=org, membership=back, starts_at=now - timedelta(days=2), ends_at=now
    )
    pool = pool_with_reps(org, [away, asleep, on_holiday, busy_today, full, inactive, off, tokyo, back])
    publish_policy(org, rules=[pool_rule(pool)])

    decision = route_new_lead(org, now=now)

    assert decision.assignee_id == tokyo.pk
    assert excluded(decision) == {
        away.pk: types.OUT_OF_OFFICE,
        asleep.pk: types.OFF_HOURS,
        on_holiday.pk: types.HOLIDAY,
        busy_today.pk: types.DAILY_CAP,
        full.pk: types.OPEN_CAP,
        inactive.pk: types.INACTIVE,
        off.pk: types.UNAVAILABLE,
        tokyo.pk: None,
        back.pk: types.NOT_ITS_TURN,
    }
    assert Assignment.objects.get(lead_id=decision.lead_id, status="offered").offered_at == now


def test_daily_cap_counts_from_the_reps_own_midnight(org):
    # 10:00 UTC on Tuesday 10 March is 03:00 in Los Angeles and 19:00 in Tokyo.
    now = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
    la = make_rep(org, "Los Angeles", time_zone="America/Los_Angeles", daily_cap=2)
    tokyo = make_rep(org, "Tokyo", time_zone="Asia/Tokyo", daily_cap=2)
    # 05:00 UTC: today in UTC and Tokyo, but 22:00 yesterday in Los Angeles.
    live_assignments(org, la, 2, status="closed", offered_at=datetime(2026, 3, 10, 5, 0, tzinfo=UTC))
    # 16:00 UTC yesterday: yesterday in UTC, but 01:00 today in Tokyo.
    live_assignments(org, tokyo, 2, status="closed", offered_at=datetime(2026, 3, 9, 16, 0, tzinfo=UTC))
    publish_policy(org, rules=[pool_rule(pool_with_reps(org, [tokyo, la]))])

    decision = route_new_lead(org, now=now)

    assert excluded(decision) == {tokyo.pk: types.DAILY_CAP, la.pk: None}
    # That offer was the first of Los Angeles' day; the second fills the cap.
    later = route_new_lead(org, now=now + timedelta(hours=1))
    assert later.assignee_id == la.pk
    assert route_new_lead(org, now=now + timedelta(hours=2)).outcome == types.QUEUED


def test_team_holiday_is_the_reps_local_date(org):
    # 23:30 UTC on 10 March is already 11 March in Tokyo.
    now = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)
    tokyo, london = make_rep(org, "Tokyo", time_zone="Asia/Tokyo"), make_rep(org, "London")
    team = accounts.team_create(org=org, name="APAC", members=[tokyo, london])
    BusinessCalendar.objects.create(
        organization=org, name="APAC", team=team, holidays=[{"date": "2026-03-11", "name": "Founders"}]
    )
    publish_policy(org, rules=[pool_rule(pool_with_reps(org, [tokyo, london]))])

    decision = route_new_lead(org, now=now)

    assert excluded(decision) == {tokyo.pk: types.HOLIDAY, london.pk: None}


def test_inactive_pool_member_is_not_considered(org, reps):
    pool = pool_with_reps(org, reps)
    publish_policy(org, rules=[pool_rule(pool)])
    PoolMember.objects.filter(pool=pool, membership=reps[0]).update(is_active=False)

    decision = route_new_lead(org)

    assert reps[0].pk not in excluded(decision)
    assert decision.assignee_id == reps[1].pk


def test_switching_a_rep_off_and_on_again_does_not_give_them_working_hours(org):
    sunday_night = datetime(2026, 3, 15, 3, 0, tzinfo=UTC)
    user = factories.make_user(full_name="No Profile")
    rep = factories.make_member(org, role=Role.SALES_REP, user=user)  # no routing profile: no hours
    publish_policy(org, rules=[pool_rule(pool_with_reps(org, [rep]))])
    assert route_new_lead(org, now=sunday_night).assignee_id == rep.pk

    routing.rep_set_available(org=org, membership=rep, available=False)
    assert excluded(route_new_lead(org, now=sunday_night)) == {rep.pk: types.UNAVAILABLE}
    routing.rep_set_available(org=org, membership=rep, available=True)

    assert route_new_lead(org, now=sunday_night).assignee_id == rep.pk


# --- Rejections, acceptance and reassignment ----------------------------------------------------


def offer_of(decision):
    return Assignment.objects.get(decision=decision)


def test_rejected_lead_goes_to_someone_else_and_the_rejecter_keeps_their_turn(org, reps, reason):
    ana, bo, cy = reps
    pool = pool_with_reps(org, reps)
    publish_policy(org, rules=[pool_rule(pool)])
    first = route_new_lead(org)
    assert first.assignee_id == ana.pk

    routing.assignment_reject(
        org=org, assignment=offer_of(first), actor=ana.user, reason=reason, note="Not mine"
    )
    again = route_pending(Lead.objects.get(pk=first.lead_id))

    assert again.assignee_id == bo.pk and again.trigger == "rejected"
    assert excluded(again) == {ana.pk: types.REJECTED_BEFORE, bo.pk: None, cy.pk: types.NOT_ITS_TURN}
    rejected = Assignment.objects.get(decision=first)
    assert (rejected.status, rejected.reject_reason, rejected.reject_note) == ("rejected", reason, "Not mine")
    member = ledger(pool, ana)
    assert (member.rejected_count, member.credits, member.pass_value, member.assigned_count) == (1, 1, 0.0, 1)
    # Ana's turn was given back whole: the next lead is hers, as if she had never been offered one.
    assert assignees([route_new_lead(org) for _ in range(4)]) == [ana.pk, cy.pk, bo.pk, ana.pk]


def test_a_lead_never_returns_to_anyone_who_rejected_it(org, reps, reason):
    pool = pool_with_reps(org, reps)
    publish_policy(org, rules=[pool_rule(pool)])
    decision = route_new_lead(org)
    lead = Lead.objects.get(pk=decision.lead_id)
    seen = []
    while decision.outcome == types.ASSIGNED:
        seen.append(decision.assignee_id)
        assignment = offer_of(decision)
        routing.assignment_reject(org=org, assignment=assignment, actor=None, reason=reason)
        decision = route_pending(lead)

    assert seen == [rep.pk for rep in reps]
    assert decision.outcome == types.QUEUED
    assert set(excluded(decision).values()) == {types.REJECTED_BEFORE}
    # Every rejecter got their turn back whole; nobody is charged for the lead.
    assert [(ledger(pool, rep).pass_value, ledger(pool, rep).last_assigned_at) for rep in reps] == [
        (0.0, None)
    ] * 3


def test_weighted_rejection_gives_back_one_stride(org, reps, reason):
    light, heavy = reps[:2]
    pool = pool_with_reps(org, [light, heavy], strategy=types.WEIGHTED, weights=[1, 4])
    publish_policy(org, rules=[pool_rule(pool)])
    first = route_new_lead(org)
    assert first.assignee_id == light.pk  # tie at 0, lower id
    assert ledger(pool, light).pass_value == 1.0

    routing.assignment_reject(org=org, assignment=offer_of(first), actor=None, reason=reason)

    assert ledger(pool, light).pass_value == 0.0
    assert route_pending(Lead.objects.get(pk=first.lead_id)).assignee_id == heavy.pk
    assert ledger(pool, heavy).pass_value == pytest.approx(0.25)


def test_reject_needs_an_active_reason_of_the_org(org, other_org, reps, reason):
    publish_policy(org, rules=[pool_rule(pool_with_reps(org, reps))])
    assignment = offer_of(route_new_lead(org))
    reason.is_active = False
    reason.save()

    with pytest.raises(ServiceError):
        routing.assignment_reject(org=org, assignment=assignment, actor=None, reason=reason)
    with pytest.raises(ServiceError):
        routing.assignment_reject(org=org, assignment=assignment, actor=None, reason=None)
    assignment.refresh_from_db()
    assert assignment.status == "offered"


def test_accept_sets_the_owner_and_moves_the_lead_to_sal(org, reps):
    publish_policy(org, rules=[pool_rule(pool_with_reps(org, reps))])
    decision = route_new_lead(org)
    ana = reps[0]

    accepted = routing.assignment_accept(org=org, assignment=offer_of(decision), actor=ana.user)

    lead = Lead.objects.select_related("stage").get(pk=decision.lead_id)
    assert accepted.status == "accepted" and accepted.accepted_at is not None
    assert lead.owner_id == ana.pk and lead.stage.key == "sal"
    assert StageEvent.objects.filter(lead=lead, from_stage="inquiry", to_stage="sal").count() == 1
    # Accepting a qualified lead does not ask routing for another owner.
    assert not RoutingRequest.objects.filter(lead=lead, status="pending").exists()
    with pytest.raises(ServiceError):
        routing.assignment_accept(org=org, assignment=accepted, actor=ana.user)


def test_manager_reassigns_to_a_named_person(org, owner, reps, owner_rep):
    publish_policy(org, rules=[pool_rule(pool_with_reps(org, reps))])
    decision = route_new_lead(org)
    old = offer_of(decision)

    new = routing.assignment_reassign(org=org, assignment=old, actor=owner, to=owner_rep, note="Knows them")

    old.refresh_from_db()
    assert (old.status, old.actor, old.reject_note) == ("reassigned", owner, "Knows them")
    assert new.status == "offered" and new.assignee_id == owner_rep.pk and new.pool_id is None
    assert new.decision.trigger == "reassigned"
    assert new.decision.trail == [f"Reassigned by {owner.display_name} from Ana Ruiz to Dee Owner."]
    assert Assignment.objects.filter(lead_id=decision.lead_id, status__in=Assignment.LIVE).get() == new


def test_reassign_without_a_person_routes_again_without_the_old_assignee(org, owner, reps):
    publish_policy(org, rules=[pool_rule(pool_with_reps(org, reps))])
    decision = route_new_lead(org)
    lead = Lead.objects.get(pk=decision.lead_id)
    routing.assignment_accept(org=org, assignment=offer_of(decision), actor=reps[0].user)

    assert routing.assignment_reassign(org=org, assignment=offer_of(decision), actor=owner) is None
    again = route_pending(lead)

    assert again.trigger == "reassigned" and again.assignee_id == reps[1].pk
    assert excluded(again)[reps[0].pk] == types.REJECTED_BEFORE


def test_reassign_refuses_a_person_of_another_org(org, other_org, reps):
    publish_policy(org, rules=[pool_rule(pool_with_reps(org, reps))])
    stranger = make_rep(other_org, "Stranger")
    assignment = offer_of(route_new_lead(org))

    with pytest.raises(ServiceError):
        routing.assignment_reassign(org=org, assignment=assignment, to=stranger)


def test_a_returning_rep_is_not_flooded(org, reps):
    ana, bo, cy = reps
    pool = pool_with_reps(org, reps)
    publish_policy(org, rules=[pool_rule(pool)])
    routing.rep_set_available(org=org, membership=ana, available=False)
    for _ in range(30):
        route_new_lead(org)
    assert (ledger(pool, ana).pass_value, ledger(pool, bo).pass_value) == (0.0, 15.0)

    routing.rep_set_available(org=org, membership=ana, available=True)
    decisions = [route_new_lead(org) for _ in range(6)]

    # Ana is lifted to one stride below the others, so she goes first and then takes turns.
    assert assignees(decisions) == [ana.pk, bo.pk, cy.pk, ana.pk, bo.pk, cy.pk]


def test_leaving_a_pool_and_coming_back_keeps_the_ledger(org, reps, reason):
    ana, bo, cy = reps
    pool = pool_with_reps(org, reps)
    publish_policy(org, rules=[pool_rule(pool)])
    first = route_new_lead(org)
    routing.assignment_reject(org=org, assignment=offer_of(first), actor=None, reason=reason)
    route_pending(Lead.objects.get(pk=first.lead_id))
    for _ in range(2):
        route_new_lead(org)
    kept = ledger(pool, ana)
    assert (kept.assigned_count, kept.rejected_count, kept.credits) == (2, 1, 1)

    PoolMember.objects.filter(pk=kept.pk).update(is_active=False)
    away = [route_new_lead(org) for _ in range(10)]
    PoolMember.objects.filter(pk=kept.pk).update(is_active=True)
    back = [route_new_lead(org) for _ in range(3)]

    assert ana.pk not in assignees(away)
    member = ledger(pool, ana)
    assert member.pk == kept.pk
    assert (member.assigned_count, member.rejected_count, member.credits) == (3, 1, 1)
    assert Counter(assignees(back)) == {ana.pk: 1, bo.pk: 1, cy.pk: 1}


# --- The routing outbox -------------------------------------------------------------------------


def test_routing_on_commit_routes_the_new_lead(org, reps, django_capture_on_commit_callbacks):
    publish_policy(org, rules=[pool_rule(pool_with_reps(org, reps))])

    with django_capture_on_commit_callbacks(execute=True):
        lead = new_lead(org)

    request = RoutingRequest.objects.get(lead=lead)
    assert request.status == "done" and request.attempts == 1 and request.done_at is not None
    assert RoutingDecision.objects.get(lead=lead).assignee_id == reps[0].pk


def test_a_request_left_pending_by_a_failure_is_routed_by_the_sweep(
    org, reps, django_capture_on_commit_callbacks
):
    publish_policy(org, rules=[pool_rule(pool_with_reps(org, reps))])
    real_decide = engine.decide
    with (
        mock.patch.object(engine, "decide", side_effect=[RuntimeError("boom"), real_decide]) as decide,
        django_capture_on_commit_callbacks(execute=True),
    ):
        lead = new_lead(org)
    assert decide.call_count == 1
    request = RoutingRequest.objects.get(lead=lead)
    assert (request.status, request.attempts) == ("pending", 1)
    assert not RoutingDecision.objects.filter(lead=lead).exists()

    # The sweep leaves requests younger than a few seconds to the process that made them.
    tasks.sweep_routing()
    assert RoutingRequest.objects.get(pk=request.pk).status == "pending"
    RoutingRequest.objects.filter(pk=request.pk).update(created_at=timezone.now() - timedelta(minutes=1))
    tasks.sweep_routing()

    request.refresh_from_db()
    assert (request.status, request.attempts) == ("done", 2)
    assert RoutingDecision.objects.get(lead=lead).assignee_id == reps[0].pk


def test_one_failing_request_does_not_block_the_sweep(org, reps):
    publish_policy(org, rules=[pool_rule(pool_with_reps(org, reps))])
    broken, fine = new_lead(org), new_lead(org)
    # The broken request is the oldest, so a sweep that stops at a failure never reaches the other.
    RoutingRequest.objects.filter(lead=broken).update(created_at=timezone.now() - timedelta(minutes=2))
    RoutingRequest.objects.filter(lead=fine).update(created_at=timezone.now() - timedelta(minutes=1))
    real_decide = engine.decide

    def decide(rules, lead_facts, **kwargs):
        if lead_facts.fields["id"] == broken.pk:
            raise RuntimeError("boom")
        return real_decide(rules, lead_facts, **kwargs)

    with mock.patch.object(engine, "decide", side_effect=decide):
        tasks.sweep_routing()

    failed = RoutingRequest.objects.get(lead=broken)
    assert (failed.status, failed.attempts, failed.last_error) == ("pending", 1, "RuntimeError: boom")
    assert RoutingRequest.objects.get(lead=fine).status == "done"


def test_deferred_routing_routes_every_request_in_one_task(org, reps, django_capture_on_commit_callbacks):
    publish_policy(org, rules=[pool_rule(pool_with_reps(org, reps))])
    with (
        mock.patch.object(tasks.route_requests, "delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
        routing.routing_deferred(),
    ):
        leads = [new_lead(org) for _ in range(3)]
    (ids,), _ = delay.call_args
    assert delay.call_count == 1 and len(ids) == 3

    tasks.route_requests(ids)

    assert Counter(RoutingDecision.objects.filter(lead__in=leads).values_list("assignee_id", flat=True)) == {
        rep.pk: 1 for rep in reps
    }


def test_routing_a_request_twice_makes_one_decision(org, reps):
    publish_policy(org, rules=[pool_rule(pool_with_reps(org, reps))])
    lead = new_lead(org)
    request = RoutingRequest.objects.get(lead=lead)

    first = routing.route_request(request_id=request.pk)
    second = routing.route_request(request_id=request.pk)

    assert first is not None and second is None
    assert RoutingDecision.objects.filter(lead=lead).count() == 1
    assert Assignment.objects.filter(lead=lead).count() == 1


def test_a_second_request_for_an_assigned_lead_decides_nothing(org, reps):
    publish_policy(org, rules=[pool_rule(pool_with_reps(org, reps))])
    lead = new_lead(org)
    route_pending(lead)
    extra = routing.routing_request(org=org, lead=lead, trigger="manual")

    assert routing.route_request(request_id=extra.pk) is None
    assert RoutingDecision.objects.filter(lead=lead).count() == 1
    assert RoutingRequest.objects.get(pk=extra.pk).status == "done"


def test_no_published_policy_means_no_request(org):
    lead = new_lead(org)
    assert not RoutingRequest.objects.filter(lead=lead).exists()


def test_owned_lead_is_not_routed(org, reps):
    publish_policy(org, rules=[pool_rule(pool_with_reps(org, reps))])
    lead = records.lead_create(org=org, email="mine@example.com", owner=reps[2])
    assert not RoutingRequest.objects.filter(lead=lead).exists()


def test_qualifying_an_unowned_lead_routes_it(org, reps):
    lead = new_lead(org)  # before any policy: no request
    publish_policy(org, rules=[pool_rule(pool_with_reps(org, reps))])

    records.lead_change_stage(org=org, lead=lead, to="mql")

    decision = route_pending(lead)
    assert decision.trigger == "qualified" and decision.assignee_id == reps[0].pk


def test_disqualifying_a_lead_closes_its_assignment_and_timers(org, reps):
    publish_policy(org, rules=[pool_rule(pool_with_reps(org, reps))])
    decision = route_new_lead(org)
    lead = Lead.objects.get(pk=decision.lead_id)

    records.lead_change_stage(org=org, lead=lead, to="disqualified")

    assert offer_of(decision).status == "closed"
    assert not SlaTimer.objects.filter(lead=lead, next_run_at__isnull=False).exists()


def test_routing_is_scoped_to_the_org(org, other_org, reps):
    publish_policy(org, rules=[pool_rule(pool_with_reps(org, reps))])
    theirs = make_rep(other_org, "Theirs", role=Role.SALES_REP)
    publish_policy(other_org, rules=[pool_rule(pool_with_reps(other_org, [theirs], name="Globex SDRs"))])

    mine = route_new_lead(org)
    other = route_new_lead(other_org)

    assert mine.assignee_id in {rep.pk for rep in reps}
    assert other.assignee_id == theirs.pk
    assert mine.organization_id == org.pk and other.organization_id == other_org.pk


def test_a_lead_disqualified_before_its_routing_ran_is_not_offered(org, reps):
    publish_policy(org, rules=[pool_rule(pool_with_reps(org, reps))])
    lead = new_lead(org)  # its routing request waits for the commit
    records.lead_change_stage(org=org, lead=lead, to="disqualified", reason="Spam")

    assert route_pending(lead) is None
    assert not Assignment.objects.filter(lead=lead).exists()


def test_a_rejection_credits_the_ledger_under_the_pool_lock(org, reps, reason):
    pool = pool_with_reps(org, reps)
    publish_policy(org, rules=[pool_rule(pool)])
    decision = route_new_lead(org)
    member = PoolMember.objects.get(pool=pool, membership_id=decision.assignee_id)
    before = member.pass_value

    routing.assignment_reject(org=org, assignment=offer_of(decision), actor=None, reason=reason)

    member.refresh_from_db()
    assert (member.pass_value, member.rejected_count, member.credits) == (before - 1, 1, 1)
