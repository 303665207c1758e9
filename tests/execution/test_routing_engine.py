"""The pure routing engine, against hand-checked expectations and a few properties.

No database: rules, pools and people are plain records from `routing.types`.
(A rejection giving the rejecter's turn back is the database layer's credit
ledger, so it is tested there, not here.)
"""

from collections import Counter
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.execution.routing import types as t
from apps.execution.routing.engine import decide, eligible_reason, headroom, pick, simulate

FR_DE = {"field": "country", "op": "in", "value": ["FR", "DE"]}
BIG = {"field": "employees", "op": "gte", "value": 1000}


def person(id, name=None, **fields):
    return t.Candidate(id=id, name=name or f"Rep {id}", **fields)


def lead(completeness=1.0, **fields):
    extra = {
        key: fields.pop(key) for key in ("account_owner", "previous_owner", "rejected_by") if key in fields
    }
    return t.LeadFacts(fields=fields, completeness=completeness, **extra)


def rule(name, action, *conditions):
    return t.Rule(name=name, conditions=tuple(conditions), action=action)


def to_pool(pool_id, *members, strategy=t.ROUND_ROBIN, name=None):
    return t.Pool(id=pool_id, name=name or f"Pool {pool_id}", strategy=strategy, members=tuple(members))


def route(rules, the_lead, pools=(), people=(), fallback=None):
    return decide(
        rules,
        the_lead,
        pools={p.id: p for p in pools},
        people={c.id: c for c in people},
        fallback_pool=fallback,
    )


def excluded(decision):
    return [(c.candidate, c.excluded, c.pool) for c in decision.considered]


ANA = person(1, "Ana Ruiz")
BOB = person(2, "Bob Lee")
CY = person(3, "Cy Chan")


# --- Actions --------------------------------------------------------------------------------------


def test_assign_person():
    decision = route(
        [rule("VIP", t.Action(t.ASSIGN_PERSON, person=1), FR_DE)], lead(country="FR"), people=[ANA]
    )

    assert (decision.outcome, decision.assignee, decision.pool) == (t.ASSIGNED, 1, None)
    assert (decision.rule_index, decision.rule_name, decision.new_pass) == (0, "VIP", None)
    assert excluded(decision) == [(1, None, None)]
    assert decision.trail == ['Rule 1 "VIP" matched', 'Assigned to Ana Ruiz by rule 1 "VIP" (named person)']


def test_excluded_person_passes_the_lead_to_the_next_rule():
    capped = person(1, "Ana Ruiz", daily_cap=3, assigned_today=3)
    rules = [
        rule("VIP", t.Action(t.ASSIGN_PERSON, person=1)),
        rule("Mid-market", t.Action(t.ASSIGN_POOL, pool=10)),
    ]
    decision = route(rules, lead(), pools=[to_pool(10, BOB, name="EMEA SDRs")], people=[capped, BOB])

    assert (decision.assignee, decision.pool, decision.rule_index, decision.new_pass) == (2, 10, 1, 1.0)
    assert excluded(decision) == [(1, t.DAILY_CAP, None), (2, None, 10)]
    assert decision.trail == [
        'Rule 1 "VIP" matched (no conditions: catch-all)',
        "Person Ana Ruiz skipped: daily cap reached",
        'Rule 1 "VIP" assigned nobody; trying the next rule',
        'Rule 2 "Mid-market" matched (no conditions: catch-all)',
        'Assigned to Bob Lee by rule 2 "Mid-market" (round robin in "EMEA SDRs")',
    ]


def test_account_owner_when_eligible():
    decision = route(
        [rule("Owned", t.Action(t.ASSIGN_ACCOUNT_OWNER, pool=10))],
        lead(account_owner=1),
        pools=[to_pool(10, BOB)],
        people=[ANA, BOB],
    )
    assert (decision.assignee, decision.pool) == (1, None)
    assert decision.trail[-1] == 'Assigned to Ana Ruiz by rule 1 "Owned" (account owner)'


def test_no_account_owner_uses_the_rules_pool():
    decision = route(
        [rule("Owned", t.Action(t.ASSIGN_ACCOUNT_OWNER, pool=10))],
        lead(),
        pools=[to_pool(10, BOB, name="AEs")],
        people=[ANA, BOB],
    )
    assert (decision.assignee, decision.pool) == (2, 10)
    assert "No matched account owner" in decision.trail


def test_excluded_account_owner_without_pool_goes_to_the_next_rule():
    away = person(1, "Ana Ruiz", unavailable=t.OUT_OF_OFFICE)
    rules = [
        rule("Owned", t.Action(t.ASSIGN_ACCOUNT_OWNER)),
        rule("Rest", t.Action(t.ASSIGN_PERSON, person=2)),
    ]
    decision = route(rules, lead(account_owner=1), people=[away, BOB])

    assert (decision.assignee, decision.rule_index) == (2, 1)
    assert "Matched account owner Ana Ruiz skipped: out of office" in decision.trail


def test_sticky_previous_owner_then_pool():
    rules = [rule("Sticky", t.Action(t.ASSIGN_STICKY, pool=10))]
    pools = [to_pool(10, CY)]

    kept = route(rules, lead(previous_owner=2), pools=pools, people=[BOB, CY])
    assert (kept.assignee, kept.pool) == (2, None)
    assert kept.trail[-1] == 'Assigned to Bob Lee by rule 1 "Sticky" (previous owner)'

    rejected = route(rules, lead(previous_owner=2, rejected_by=frozenset({2})), pools=pools, people=[BOB, CY])
    assert (rejected.assignee, rejected.pool) == (3, 10)
    assert excluded(rejected) == [(2, t.REJECTED_BEFORE, None), (3, None, 10)]

    nobody = route(rules, lead(), pools=pools, people=[BOB, CY])
    assert "No previous owner" in nobody.trail
    assert nobody.assignee == 3


def test_pool_round_robin_picks_the_lowest_pass_then_the_longest_waiting():
    pool = to_pool(
        10,
        person(1, pass_value=2.0, last_assigned_at=1),
        person(2, pass_value=1.0, last_assigned_at=30),
        person(3, pass_value=1.0, last_assigned_at=20),
    )
    chosen, considered, new_pass = pick(pool, lead())

    assert (chosen.id, new_pass) == (3, 2.0)
    assert [(c.candidate, c.excluded, c.pool) for c in considered] == [
        (1, t.NOT_ITS_TURN, 10),
        (2, t.NOT_ITS_TURN, 10),
        (3, None, 10),
    ]


def test_pool_ties_on_pass_and_clock_go_to_the_lowest_id():
    chosen, _, _ = pick(to_pool(10, person(5), person(4), person(6)), lead())
    assert chosen.id == 4


def test_pool_where_nobody_is_eligible_passes_the_lead_on():
    pool = to_pool(10, person(1, "Ana Ruiz", unavailable=t.OFF_HOURS), name="EMEA SDRs")
    rules = [
        rule("Team", t.Action(t.ASSIGN_POOL, pool=10)),
        rule("Boss", t.Action(t.ASSIGN_PERSON, person=2)),
    ]
    decision = route(rules, lead(), pools=[pool], people=[BOB])

    assert (decision.assignee, decision.rule_index) == (2, 1)
    assert 'In "EMEA SDRs", skipped Ana Ruiz (outside working hours)' in decision.trail
    assert 'Nobody eligible in "EMEA SDRs"' in decision.trail


# --- Strategies -----------------------------------------------------------------------------------


def test_weighted_gives_three_turns_per_one():
    light, heavy = person(1, weight=1), person(2, weight=3)
    rules = [rule("All", t.Action(t.ASSIGN_POOL, pool=10))]
    pools = {10: to_pool(10, light, heavy, strategy=t.WEIGHTED)}

    decisions = simulate(rules, [lead()] * 8, pools=pools, people={}, fallback_pool=None)

    # Both start at pass 0 (tie → lowest id); light then sits at 1.0 while heavy
    # climbs 1/3 at a time; at 1.0 each the longer-waiting light goes first.
    assert [d.assignee for d in decisions] == [1, 2, 2, 2, 1, 2, 2, 2]
    assert [d.new_pass for d in decisions[:4]] == pytest.approx([1.0, 1 / 3, 2 / 3, 1.0])


def test_round_robin_ignores_weights():
    chosen, _, new_pass = pick(to_pool(10, person(1, weight=5, pass_value=0.5), person(2)), lead())
    assert (chosen.id, new_pass) == (2, 1.0)


def test_load_balanced_takes_the_fewest_open_then_the_turn():
    pool = to_pool(
        10,
        person(1, open_count=5),
        person(2, open_count=2, pass_value=3.0),
        person(3, open_count=2, pass_value=1.0),
        strategy=t.LOAD_BALANCED,
    )
    chosen, _, new_pass = pick(pool, lead())
    # Passes are only a tie-break here, so they drift apart; the lag floor
    # (max of pass - 1 = 2.0) lifts Rep 3 to 2.0 before adding its stride.
    assert (chosen.id, new_pass) == (3, 3.0)


def test_capacity_takes_the_most_headroom():
    nearly_full = person(1, daily_cap=10, assigned_today=8)  # room 2
    open_bound = person(2, daily_cap=10, open_cap=20, open_count=15)  # room min(10, 5) = 5
    roomy = person(3, daily_cap=10, assigned_today=4, open_cap=30)  # room min(6, 30) = 6
    chosen, _, _ = pick(to_pool(10, nearly_full, open_bound, roomy, strategy=t.CAPACITY), lead())
    assert chosen.id == 3

    # No cap at all counts as unlimited room.
    uncapped = person(4, pass_value=9.0)
    chosen, _, _ = pick(to_pool(10, nearly_full, roomy, uncapped, strategy=t.CAPACITY), lead())
    assert chosen.id == 4


def test_capacity_ties_fall_back_to_the_turn():
    pool = to_pool(10, person(1, daily_cap=5, pass_value=2.0), person(2, daily_cap=5, pass_value=1.0))
    pool = t.Pool(id=10, name="Caps", strategy=t.CAPACITY, members=pool.members)
    chosen, _, _ = pick(pool, lead())
    assert chosen.id == 2


def test_territory_matches_country_or_region_case_insensitively():
    de = person(1, territories=frozenset({"DE"}))
    fr = person(2, territories=frozenset({"FR"}), pass_value=5.0)
    emea = person(3, territories=frozenset({"EMEA"}), pass_value=5.0)
    pool = to_pool(10, de, fr, emea, strategy=t.TERRITORY)

    chosen, considered, _ = pick(pool, lead(country="fr"))
    assert chosen.id == 2
    assert [c.excluded for c in considered] == [t.NOT_IN_TERRITORY, None, t.NOT_IN_TERRITORY]

    chosen, considered, _ = pick(pool, lead(country="fr", region="emea"))
    assert [c.excluded for c in considered] == [t.NOT_IN_TERRITORY, None, t.NOT_ITS_TURN]

    chosen, considered, _ = pick(pool, lead())
    assert chosen is None
    assert {c.excluded for c in considered} == {t.NOT_IN_TERRITORY}


def test_territory_is_ignored_by_other_strategies():
    chosen, _, _ = pick(to_pool(10, person(1, territories=frozenset({"DE"}))), lead(country="FR"))
    assert chosen.id == 1


# --- Exclusions -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("candidate", "the_lead", "reason"),
    [
        (person(1, unavailable=t.INACTIVE), lead(), t.INACTIVE),
        (person(1, unavailable=t.UNAVAILABLE), lead(), t.UNAVAILABLE),
        (person(1, unavailable=t.OUT_OF_OFFICE), lead(), t.OUT_OF_OFFICE),
        (person(1, unavailable=t.HOLIDAY), lead(), t.HOLIDAY),
        (person(1, unavailable=t.OFF_HOURS), lead(), t.OFF_HOURS),
        (person(1, daily_cap=2, assigned_today=2), lead(), t.DAILY_CAP),
        (person(1, open_cap=4, open_count=7), lead(), t.OPEN_CAP),
        (person(1), lead(rejected_by=frozenset({1})), t.REJECTED_BEFORE),
        # The order: availability, then the rejection, then the daily cap, then the open cap.
        (person(1, unavailable=t.HOLIDAY, daily_cap=0), lead(rejected_by=frozenset({1})), t.HOLIDAY),
        (person(1, daily_cap=0, open_cap=0), lead(rejected_by=frozenset({1})), t.REJECTED_BEFORE),
        (person(1, daily_cap=0, open_cap=0), lead(), t.DAILY_CAP),
    ],
)
def test_exclusions(candidate, the_lead, reason):
    assert eligible_reason(candidate, the_lead) == reason
    chosen, considered, new_pass = pick(to_pool(10, candidate, BOB), the_lead)
    assert (chosen.id, new_pass) == (2, 1.0)
    assert considered[0].excluded == reason


def test_under_the_caps_is_eligible():
    assert eligible_reason(person(1, daily_cap=3, assigned_today=2, open_cap=5, open_count=4), lead()) is None


def test_territory_comes_before_the_other_exclusions():
    away = person(1, unavailable=t.HOLIDAY, territories=frozenset({"DE"}))
    _, considered, _ = pick(to_pool(10, away, strategy=t.TERRITORY), lead(country="FR"))
    assert considered[0].excluded == t.NOT_IN_TERRITORY


# --- Rule matching, hold, fallback and queue ------------------------------------------------------


def test_non_matching_rule_names_its_first_failing_condition():
    rules = [rule("EMEA enterprise", t.Action(t.ASSIGN_PERSON, person=1), FR_DE, BIG)]

    us = route(rules, lead(country="US", employees=5000), people=[ANA])
    assert us.trail[0] == 'Rule 1 "EMEA enterprise" did not match: country is one of FR, DE'

    small = route(rules, lead(country="FR", employees=50), people=[ANA])
    assert small.trail[0] == 'Rule 1 "EMEA enterprise" did not match: employees at least 1000'


def test_rule_without_conditions_is_a_catch_all():
    rules = [
        rule("EMEA", t.Action(t.ASSIGN_PERSON, person=1), FR_DE),
        rule("Everyone else", t.Action(t.ASSIGN_PERSON, person=2)),
    ]
    decision = route(rules, lead(country="US"), people=[ANA, BOB])
    assert (decision.assignee, decision.rule_index, decision.rule_name) == (2, 1, "Everyone else")
    assert decision.trail[1] == 'Rule 2 "Everyone else" matched (no conditions: catch-all)'


def test_hold_below_the_completeness_threshold():
    rules = [
        rule("Needs data", t.Action(t.HOLD_FOR_DATA, min_completeness=0.6)),
        rule("Rest", t.Action(t.ASSIGN_PERSON, person=1)),
    ]
    held = route(rules, lead(completeness=0.4), people=[ANA])
    assert (held.outcome, held.assignee, held.rule_index, held.rule_name) == (t.HELD, None, 0, "Needs data")
    assert held.trail[-1] == "Lead held: completeness 40% is below 60%"

    complete = route(rules, lead(completeness=0.8), people=[ANA])
    assert (complete.outcome, complete.assignee, complete.rule_index) == (t.ASSIGNED, 1, 1)
    assert "Completeness 80% meets 60%, so the hold does not apply" in complete.trail


def test_hold_wording_keeps_a_decimal_when_needed():
    rules = [rule("Needs data", t.Action(t.HOLD_FOR_DATA, min_completeness=0.6))]
    assert route(rules, lead(completeness=0.595)).trail[-1] == "Lead held: completeness 59.5% is below 60%"


def test_hold_without_threshold_holds_until_complete():
    rules = [rule("Needs data", t.Action(t.HOLD_FOR_DATA))]
    assert route(rules, lead(completeness=0.99)).outcome == t.HELD
    assert route(rules, lead(completeness=1.0)).outcome == t.QUEUED


def test_fallback_queue_when_no_rule_assigns():
    rules = [rule("EMEA", t.Action(t.ASSIGN_PERSON, person=1), FR_DE)]
    decision = route(
        rules, lead(country="US"), pools=[to_pool(20, BOB, name="Inbound")], people=[ANA], fallback=20
    )

    assert (decision.outcome, decision.assignee, decision.pool) == (t.ASSIGNED, 2, 20)
    assert (decision.rule_index, decision.rule_name) == (None, "Fallback queue")
    assert decision.trail[-1] == 'Assigned to Bob Lee by the fallback queue (round robin in "Inbound")'


def test_queued_when_the_fallback_has_nobody():
    pool = to_pool(20, person(2, unavailable=t.OFF_HOURS), name="Inbound")
    decision = route([], lead(), pools=[pool], fallback=20)

    assert (decision.outcome, decision.assignee, decision.pool, decision.rule_index) == (
        t.QUEUED,
        None,
        20,
        None,
    )
    assert excluded(decision) == [(2, t.OFF_HOURS, 20)]
    assert decision.trail[-1] == "Nobody eligible: the lead waits in the fallback queue"


def test_queued_without_a_fallback():
    decision = route([rule("EMEA", t.Action(t.ASSIGN_PERSON, person=1), FR_DE)], lead(), people=[ANA])
    assert (decision.outcome, decision.assignee, decision.pool) == (t.QUEUED, None, None)
    assert (
        decision.trail[-1] == "No rule assigned the lead and there is no fallback queue: it waits unassigned"
    )


def test_missing_people_and_pools_skip_the_rule():
    rules = [
        rule("Gone", t.Action(t.ASSIGN_PERSON, person=99)),
        rule("Unset", t.Action(t.ASSIGN_PERSON)),
        rule("Old pool", t.Action(t.ASSIGN_POOL, pool=98)),
        rule("Gone owner", t.Action(t.ASSIGN_ACCOUNT_OWNER, pool=97)),
        rule("Odd", t.Action("teleport")),
        rule("Rest", t.Action(t.ASSIGN_PERSON, person=1)),
    ]
    decision = route(rules, lead(account_owner=96), people=[ANA])

    assert (decision.assignee, decision.rule_index) == (1, 5)
    for sentence in (
        "Person #99 not found",
        "No person set",
        "Pool #98 not found",
        "Matched account owner #96 not found",
        "Pool #97 not found",
        "Rule 5 \"Odd\" has an unknown action 'teleport'; skipped",
    ):
        assert sentence in decision.trail


def test_missing_fallback_pool_queues():
    decision = route([], lead(), fallback=42)
    assert (decision.outcome, decision.pool) == (t.QUEUED, 42)
    assert "Pool #42 not found" in decision.trail


# --- Fairness over time (simulate) ----------------------------------------------------------------


def test_returning_rep_is_not_flooded():
    back = person(3, "Back", pass_value=0.0, last_assigned_at=1)
    pools = {
        10: to_pool(
            10,
            person(1, pass_value=50.0, last_assigned_at=10),
            person(2, pass_value=50.0, last_assigned_at=11),
            back,
        )
    }
    rules = [rule("All", t.Action(t.ASSIGN_POOL, pool=10))]

    decisions = simulate(rules, [lead()] * 7, pools=pools, people={}, fallback_pool=None)

    # Lifted to 49 (one stride below the others), the returner takes one lead
    # and then simply joins the rotation.
    assert [d.assignee for d in decisions] == [3, 1, 2, 3, 1, 2, 3]
    assert decisions[0].new_pass == 50.0


def test_simulate_carries_counts_across_pools_and_leaves_inputs_alone():
    ana_in_10, ana_in_20 = person(1, "Ana Ruiz"), person(1, "Ana Ruiz", open_cap=1)
    pools = {
        10: to_pool(10, ana_in_10),
        20: to_pool(20, ana_in_20, person(2, "Bob Lee", pass_value=7.0), strategy=t.LOAD_BALANCED),
    }
    rules = [
        rule("FR", t.Action(t.ASSIGN_POOL, pool=10), FR_DE),
        rule("Rest", t.Action(t.ASSIGN_POOL, pool=20)),
    ]
    before = dict(pools)

    decisions = simulate(
        rules, [lead(country="FR"), lead(country="US")], pools=pools, people={}, fallback_pool=None
    )

    # Ana's first lead came from pool 10 but fills her open cap in pool 20 too.
    assert [(d.assignee, d.pool) for d in decisions] == [(1, 10), (2, 20)]
    assert decisions[1].considered[0].excluded == t.OPEN_CAP
    assert pools == before and pools[20].members[0] is ana_in_20


def test_simulate_counts_direct_assignments():
    capped = person(1, "Ana Ruiz", daily_cap=2)
    rules = [rule("Ana", t.Action(t.ASSIGN_PERSON, person=1))]
    decisions = simulate(rules, [lead()] * 3, pools={}, people={1: capped}, fallback_pool=None)
    assert [d.outcome for d in decisions] == [t.ASSIGNED, t.ASSIGNED, t.QUEUED]


def test_weighted_one_two_three_over_600_leads():
    members = [person(i, weight=i) for i in (1, 2, 3)]
    rules = [rule("All", t.Action(t.ASSIGN_POOL, pool=10))]
    pools = {10: to_pool(10, *members, strategy=t.WEIGHTED)}

    counts = Counter(
        d.assignee for d in simulate(rules, [lead()] * 600, pools=pools, people={}, fallback_pool=None)
    )

    assert counts == {1: 100, 2: 200, 3: 300}


# --- Properties -----------------------------------------------------------------------------------

PLACES = ["FR", "DE", "US", "EMEA"]
IDS = [1, 2, 3, 4, 5, 6]
MISSING = 99

reasons = st.sampled_from(
    [None, None, None, t.INACTIVE, t.OUT_OF_OFFICE, t.HOLIDAY, t.OFF_HOURS, t.UNAVAILABLE]
)
caps = st.one_of(st.none(), st.integers(0, 4))
names = st.sampled_from(["EMEA", "Rest"])


@st.composite
def candidates(draw, id):
    return person(
        id,
        unavailable=draw(reasons),
        weight=draw(st.integers(1, 4)),
        territories=frozenset(draw(st.sets(st.sampled_from(PLACES)))),
        # Mostly uncapped, so that a fair share of the drawn leads get assigned.
        daily_cap=draw(st.one_of(st.none(), caps)),
        open_cap=draw(st.one_of(st.none(), caps)),
        assigned_today=draw(st.integers(0, 3)),
        open_count=draw(st.integers(0, 3)),
    )


@st.composite
def worlds(draw):
    people = {id: draw(candidates(id)) for id in IDS}
    pools = {}
    for pool_id in (10, 20, 30):
        member_ids = draw(st.lists(st.sampled_from(IDS), unique=True, min_size=1, max_size=5))
        members = tuple(
            replace(
                people[id],
                pass_value=draw(st.floats(0, 20, allow_nan=False)),
                last_assigned_at=draw(st.floats(0, 100, allow_nan=False)),
            )
            for id in member_ids
        )
        pools[pool_id] = to_pool(pool_id, *members, strategy=draw(st.sampled_from(list(t.STRATEGIES))))
    maybe_person = st.sampled_from([None, MISSING, *IDS])
    maybe_pool = st.sampled_from([None, MISSING, 10, 20, 30])
    action = st.builds(
        t.Action,
        type=st.sampled_from(list(t.ACTIONS)),
        person=maybe_person,
        pool=maybe_pool,
        min_completeness=st.one_of(st.none(), st.floats(0, 1)),
    )
    condition = st.builds(
        lambda places: {"field": "country", "op": "in", "value": places}, st.lists(st.sampled_from(PLACES))
    )
    rules = draw(
        st.lists(
            st.builds(rule, names, action, condition) | st.builds(rule, names, action),
            max_size=4,
        )
    )
    the_lead = t.LeadFacts(
        fields={
            "country": draw(st.sampled_from([None, "fr", "DE", "US"])),
            "region": draw(st.sampled_from([None, "emea"])),
        },
        completeness=draw(st.floats(0, 1)),
        account_owner=draw(maybe_person),
        previous_owner=draw(maybe_person),
        rejected_by=frozenset(draw(st.sets(st.sampled_from(IDS), max_size=2))),
    )
    return rules, the_lead, pools, people, draw(maybe_pool)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_property_an_assignee_is_always_eligible(world):
    rules, the_lead, pools, people, fallback = world
    decision = decide(rules, the_lead, pools=pools, people=people, fallback_pool=fallback)

    chosen = [c for c in decision.considered if c.excluded is None]
    if decision.outcome != t.ASSIGNED:
        assert decision.assignee is None and chosen == []
        return
    assert [(c.candidate, c.pool) for c in chosen] == [(decision.assignee, decision.pool)]
    if decision.pool is not None:
        pool = pools[decision.pool]
        (member,) = [m for m in pool.members if m.id == decision.assignee]
        assert eligible_reason(member, the_lead) is None
        if pool.strategy == t.TERRITORY:
            places = {
                str(the_lead.fields[key]).upper() for key in ("country", "region") if the_lead.fields[key]
            }
            assert member.territories & places
    else:
        assert eligible_reason(people[decision.assignee], the_lead) is None
        action = rules[decision.rule_index].action
        named = {
            t.ASSIGN_PERSON: action.person,
            t.ASSIGN_ACCOUNT_OWNER: the_lead.account_owner,
            t.ASSIGN_STICKY: the_lead.previous_owner,
        }[action.type]
        assert decision.assignee == named


@given(
    st.integers(1, 8).flatmap(
        lambda n: st.tuples(
            st.lists(st.sampled_from([-30.0, -1.0, 0.0, 0.0, 1.0]), min_size=n, max_size=n),
            st.lists(st.floats(0, 1000, allow_nan=False), min_size=n, max_size=n),
        )
    ),
    st.integers(0, 60),
)
def test_property_round_robin_is_even(ledger, k):
    # Members at the current pass, one turn ahead, or lagging (back from leave).
    offsets, clocks = ledger
    members = [
        person(i, pass_value=100 + o, last_assigned_at=c)
        for i, (o, c) in enumerate(zip(offsets, clocks, strict=True))
    ]
    rules = [rule("All", t.Action(t.ASSIGN_POOL, pool=10))]
    pools = {10: to_pool(10, *members)}

    counts = Counter(
        d.assignee for d in simulate(rules, [lead()] * k, pools=pools, people={}, fallback_pool=None)
    )
    per_member = [counts[m.id] for m in members]

    assert sum(per_member) == k
    assert max(per_member) - min(per_member) <= 1


@given(st.lists(st.integers(1, 5), min_size=1, max_size=6), st.integers(0, 120))
def test_property_weighted_shares_converge(weights, k):
    members = [person(i, weight=w) for i, w in enumerate(weights)]
    rules = [rule("All", t.Action(t.ASSIGN_POOL, pool=10))]
    pools = {10: to_pool(10, *members, strategy=t.WEIGHTED)}

    counts = Counter(
        d.assignee for d in simulate(rules, [lead()] * k, pools=pools, people={}, fallback_pool=None)
    )

    # Every pass stays within one stride of the lowest, V: count_i in [w_i*V, w_i*V + 1],
    # so count_i - k*w_i/W lies in [-n*w_i/W, 1]; after whole rounds it is exact.
    total = sum(weights)
    for member in members:
        share = k * member.weight / total
        assert share - len(members) * member.weight / total - 1e-9 <= counts[member.id] <= share + 1 + 1e-9
        if k % total == 0:
            assert counts[member.id] == k // total * member.weight


@given(
    st.lists(st.tuples(caps, caps, st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=6),
    st.sampled_from(list(t.STRATEGIES)),
    st.integers(0, 40),
)
def test_property_caps_are_never_exceeded(ledger, strategy, k):
    members = [
        person(
            i,
            daily_cap=daily,
            open_cap=open_,
            assigned_today=today,
            open_count=open_count,
            territories=frozenset({"FR"}),
        )
        for i, (daily, open_, today, open_count) in enumerate(ledger)
    ]
    rules = [rule("All", t.Action(t.ASSIGN_POOL, pool=10))]
    pools = {10: to_pool(10, *members, strategy=strategy)}

    decisions = simulate(rules, [lead(country="FR")] * k, pools=pools, people={}, fallback_pool=10)
    counts = Counter(d.assignee for d in decisions if d.outcome == t.ASSIGNED)

    for member in members:
        added = counts[member.id]
        if added:
            assert member.daily_cap is None or member.assigned_today + added <= member.daily_cap
            assert member.open_cap is None or member.open_count + added <= member.open_cap
    # Nobody is left unassigned while someone has room.
    room = sum(min(max(headroom(m), 0), k) for m in members)
    assert sum(counts.values()) == min(k, room)
