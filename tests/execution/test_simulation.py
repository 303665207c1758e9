"""The routing simulator: replaying a period, one lead, or an unsaved lead, and writing nothing."""

import datetime

import pytest
from django.apps import apps
from django.db.models import Max

from apps.core.errors import ServiceError
from apps.execution.models import PoolMember, RepProfile, RoutingPool
from apps.execution.routing import types
from apps.execution.services import policies, simulation
from apps.records import services as record_services
from apps.records.models import Lead

from .conftest import make_rep, new_lead, pool_rule, pool_with_reps, publish_policy, route_pending

pytestmark = pytest.mark.django_db


def us_rule(pool):
    return pool_rule(pool, "US", {"field": "country", "op": "in", "value": ["US"]})


def draft(org, rules):
    return policies.draft_update(org=org, policy=policies.policy_for(org), rules=rules)


def captured(org, email, country, at):
    lead = new_lead(org, email=email, country=country, captured_at=at)
    route_pending(lead)
    return lead


def utc(day, hour):
    return datetime.datetime(2026, 3, day, hour, tzinfo=datetime.UTC)


def snapshot():
    """Row counts and latest updates of every execution and records table, and the fairness ledger."""
    tables = {}
    for label in ("execution", "records"):
        for model in apps.get_app_config(label).get_models():
            fields = {f.name for f in model._meta.concrete_fields}
            latest = model.objects.aggregate(m=Max("updated_at"))["m"] if "updated_at" in fields else None
            tables[model._meta.label] = (model.objects.count(), latest)
    ledger = list(PoolMember.objects.order_by("pk").values_list("pk", "pass_value", "assigned_count"))
    return tables, ledger


@pytest.fixture
def team(org):
    ana, bob, cy = (make_rep(org, name) for name in ("Ana Ruiz", "Bob Lee", "Cy Chan"))
    return {
        "ana": ana,
        "bob": bob,
        "cy": cy,
        "emea": pool_with_reps(org, [ana, bob], name="EMEA SDRs"),
        "us": pool_with_reps(org, [cy], name="US SDRs"),
    }


@pytest.fixture
def history(org, owner, team):
    """Six leads routed for real by v1 (everything to EMEA), the middle four inside 10-11 March New York."""
    org.time_zone = "America/New_York"
    org.save(update_fields=["time_zone"])
    publish_policy(org, rules=[pool_rule(team["emea"], "Everyone")], actor=owner)
    leads = {
        "before": captured(org, "before@a.test", "FR", utc(10, 3)),  # 9 March, 23:00 in New York
        "l1": captured(org, "l1@a.test", "FR", utc(10, 14)),
        "l2": captured(org, "l2@a.test", "US", utc(10, 15)),
        "l3": captured(org, "l3@a.test", "DE", utc(10, 16)),
        "l4": captured(org, "l4@a.test", "US", utc(11, 14)),
        "after": captured(org, "after@a.test", "FR", utc(12, 5)),  # 12 March, 01:00 in New York
    }
    return leads


def test_the_read_only_block_rolls_back_even_a_write(org):
    # The guarantee every entry point rests on, shown with a write nothing here would ever make.
    with simulation._read_only():
        RoutingPool.objects.create(organization=org, name="Scratch")
        assert RoutingPool.objects.for_org(org).filter(name="Scratch").exists()
    assert not RoutingPool.objects.for_org(org).filter(name="Scratch").exists()


def test_what_really_happened_alternates_in_emea(history, team):
    # The baseline the simulations below are compared with: round robin, Ana first (lower id).
    first = {key: lead.assignments.get().assignee for key, lead in history.items()}
    assert [first[k] for k in ("before", "l1", "l2", "l3", "l4", "after")] == [
        team["ana"], team["bob"], team["ana"], team["bob"], team["ana"], team["bob"],
    ]  # fmt: skip


def test_a_draft_with_a_us_rule_is_replayed_from_the_current_ledger(org, history, team):
    draft(org, [us_rule(team["us"]), pool_rule(team["emea"], "Everyone")])
    before = snapshot()

    result = simulation.simulate_period(
        org=org, start=datetime.date(2026, 3, 10), end=datetime.date(2026, 3, 11)
    )

    ana, bob, cy = team["ana"].pk, team["bob"].pk, team["cy"].pk
    # Ana and Bob both have pass 3; Ana waited longer, so she goes first, then the turns alternate.
    assert [s.lead_id for s in result.leads] == [history[k].pk for k in ("l1", "l2", "l3", "l4")]
    assert [s.decision.assignee for s in result.leads] == [ana, cy, bob, cy]
    assert [s.actual_assignee for s in result.leads] == [bob, ana, bob, ana]
    assert [s.changed for s in result.leads] == [True, True, False, True]
    assert result.changed == 3
    assert result.load == {ana: 1, bob: 1, cy: 2}
    assert result.actual_load == {ana: 2, bob: 2}
    assert result.names == {ana: "Ana Ruiz", bob: "Bob Lee", cy: "Cy Chan"}
    assert result.version_number == 2
    assert [s.lead_label for s in result.leads] == ["l1@a.test", "l2@a.test", "l3@a.test", "l4@a.test"]
    us_lead = result.leads[1].decision
    assert (us_lead.rule_index, us_lead.rule_name, us_lead.pool) == (0, "US", team["us"].pk)
    assert snapshot() == before


def test_the_published_version_can_be_replayed_instead_of_the_draft(org, history, team):
    draft(org, [us_rule(team["us"]), pool_rule(team["emea"], "Everyone")])

    result = simulation.simulate_period(
        org=org, start=datetime.date(2026, 3, 10), end=datetime.date(2026, 3, 11), version="published"
    )

    ana, bob = team["ana"].pk, team["bob"].pk
    # Same rules as reality, but starting where the ledger is now, so every turn is shifted by one.
    assert [s.decision.assignee for s in result.leads] == [ana, bob, ana, bob]
    assert result.changed == 4 and result.load == {ana: 2, bob: 2} and result.version_number == 1


def test_availability_switch_counts_but_the_hour_of_the_run_does_not(org, history, team):
    # Bob is switched off; Ana has no working hours at all, so she is "off hours" whenever this runs.
    RepProfile.objects.filter(membership=team["bob"]).update(available=False)
    RepProfile.objects.filter(membership=team["ana"]).update(hours={})

    result = simulation.simulate_period(
        org=org, start=datetime.date(2026, 3, 10), end=datetime.date(2026, 3, 11), version="published"
    )

    assert {s.decision.assignee for s in result.leads} == {team["ana"].pk}
    bob_seen = {(c.candidate, c.excluded) for c in result.leads[0].decision.considered}
    assert (team["bob"].pk, types.UNAVAILABLE) in bob_seen
    # Routing one lead now does respect the clock: nobody in EMEA can take it.
    now = simulation.simulate_lead(org=org, lead=history["l1"], version="published")
    assert now.outcome == types.QUEUED
    assert {(c.candidate, c.excluded) for c in now.considered} == {
        (team["ana"].pk, types.OFF_HOURS),
        (team["bob"].pk, types.UNAVAILABLE),
    }


def test_an_empty_period_and_a_backwards_one(org, history):
    empty = simulation.simulate_period(
        org=org, start=datetime.date(2025, 1, 1), end=datetime.date(2025, 1, 2)
    )
    assert (empty.leads, empty.load, empty.actual_load, empty.changed) == ([], {}, {}, 0)
    with pytest.raises(ServiceError) as error:
        simulation.simulate_period(org=org, start=datetime.date(2026, 3, 11), end=datetime.date(2026, 3, 10))
    assert error.value.field == "end"


def test_the_limit_keeps_the_oldest_leads(org, history):
    result = simulation.simulate_period(
        org=org, start=datetime.date(2026, 3, 1), end=datetime.date(2026, 3, 31), limit=2
    )
    assert [s.lead_id for s in result.leads] == [history["before"].pk, history["l1"].pk]


def test_simulate_lead_uses_the_draft_unless_told_otherwise(org, history, team):
    draft(org, [us_rule(team["us"]), pool_rule(team["emea"], "Everyone")])
    before = snapshot()

    with_draft = simulation.simulate_lead(org=org, lead=history["l2"])
    published = simulation.simulate_lead(org=org, lead=history["l2"], version="published")

    assert (with_draft.outcome, with_draft.assignee, with_draft.rule_name) == (
        types.ASSIGNED,
        team["cy"].pk,
        "US",
    )
    assert published.assignee in {team["ana"].pk, team["bob"].pk} and published.rule_name == "Everyone"
    assert snapshot() == before


def test_versions_and_leads_of_another_org_are_refused(org, history, other_org):
    stranger = new_lead(other_org, email="x@globex.test")
    with pytest.raises(ServiceError) as error:
        simulation.simulate_lead(org=org, lead=stranger)
    assert error.value.field == "lead"
    theirs = policies.draft_update(org=other_org, policy=policies.policy_for(other_org), rules=[])
    with pytest.raises(ServiceError) as error:
        simulation.simulate_lead(org=org, lead=history["l1"], version=theirs)
    assert error.value.field == "version"
    with pytest.raises(ServiceError) as error:
        simulation.simulate_lead(org=org, lead=history["l1"], version="draft")  # none yet
    assert (error.value.field, error.value.code) == ("version", "no_draft")


def test_preview_matches_the_account_like_lead_create_and_saves_nothing(org, owner, team):
    record_services.account_create(org=org, name="BigCo", domain="bigco.test", owner=team["cy"])
    publish_policy(
        org,
        actor=owner,
        rules=[
            {
                "name": "Named accounts",
                "conditions": [{"field": "account.has_owner", "op": "equals", "value": True}],
                "action": {"type": "account_owner", "pool": team["emea"].pk},
            },
            pool_rule(team["emea"], "Everyone"),
        ],
    )
    before = snapshot()

    named = simulation.preview_lead_data(org=org, data={"email": "Jo@BigCo.test", "country": "us"})
    other = simulation.preview_lead_data(org=org, data={"email": "jo@elsewhere.test"})

    assert (named.outcome, named.assignee, named.rule_name) == (
        types.ASSIGNED,
        team["cy"].pk,
        "Named accounts",
    )
    assert named.trail[-1] == 'Assigned to Cy Chan by rule 1 "Named accounts" (account owner)'
    assert other.assignee == team["ana"].pk and other.rule_name == "Everyone"
    assert other.trail[0].startswith('Rule 1 "Named accounts" did not match')
    assert snapshot() == before
    assert not Lead.objects.for_org(org).exists()


def test_preview_applies_machine_stage_rules_in_memory(org, owner, team):
    mql = record_services.stages_by_key(org)["mql"]
    record_services.stage_update(
        org=org, stage=mql, actor=owner, rule=[{"field": "score", "op": "gte", "value": 50}]
    )
    publish_policy(
        org,
        actor=owner,
        rules=[
            {
                "name": "MQLs to Cy",
                "conditions": [{"field": "stage", "op": "equals", "value": "mql"}],
                "action": {"type": "person", "person": team["cy"].pk},
            },
            pool_rule(team["emea"], "Everyone"),
        ],
    )

    hot = simulation.preview_lead_data(org=org, data={"email": "a@b.test", "score": 80})
    cold = simulation.preview_lead_data(org=org, data={"email": "a@b.test", "score": 10})

    assert hot.assignee == team["cy"].pk
    assert cold.assignee == team["ana"].pk


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"email": "a@b.test", "owner": 1}, "owner"),
        ({"email": "a@b.test", "custom": {"nope": 1}}, "custom.nope"),
        ({"email": "a@b.test", "stage": "nirvana"}, "stage"),
        ({"email": "a@b.test", "score": "high"}, "score"),
    ],
)
def test_preview_refuses_bad_fields_by_name(org, data, field):
    with pytest.raises(ServiceError) as error:
        simulation.preview_lead_data(org=org, data=data)
    assert error.value.field == field
