"""Change requests through the services: each subject's export → apply → rollback round trip, the
effective date and the beat task, the role rules, conflicts, validation, and change control."""

import copy
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from apps.accounts.roles import Role
from apps.core.errors import ServiceError
from apps.execution.models import RoutingPolicyVersion, SlaPolicy
from apps.execution.services import policies, setup
from apps.governance.changes import guard, kpi, metrics, routing, sla, stages
from apps.governance.models import ChangeRequest, ChangeStatus
from apps.governance.services import changes as services
from apps.measurement.services import attribution
from apps.records import services as records
from apps.records.models import LifecycleStage, StageDefinitionVersion
from apps.strategy.models import KpiNode, KpiTarget
from apps.strategy.services import kpi as kpi_services
from tests import factories
from tests.execution.conftest import make_rep, pool_rule, pool_with_reps, publish_policy

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(org, owner):
    return owner.memberships.get(organization=org)


@pytest.fixture
def lead(org):
    """A RevOps lead: proposes; the owner (an admin) approves."""
    return factories.make_member(org, role=Role.REVOPS_LEAD)


def approved_and_applied(org, change, *, by, approver):
    services.change_submit(org=org, change=change, by=by)
    return services.change_approve(org=org, change=change, by=approver)


# --- Round trips per subject --------------------------------------------------------------------------


def test_stages_round_trip(org, owner, admin, lead):
    original = stages.export(org)
    proposed = copy.deepcopy(original)
    mql = next(s for s in proposed["stages"] if s["key"] == "mql")
    mql["name"] = "Marketing qualified"
    mql["entry_criteria"] = "Score of 60 or more and a business e-mail."
    versions = StageDefinitionVersion.objects.for_org(org).count()

    change = services.change_create(
        org=org, by=lead, subject="stages", title="Stricter MQL", proposed=proposed
    )
    assert change.status == ChangeStatus.DRAFT and change.before == original
    change = approved_and_applied(org, change, by=lead, approver=admin)

    assert change.status == ChangeStatus.APPLIED and change.applied_at is not None
    assert change.decided_by == admin and change.before == original
    stage = LifecycleStage.objects.for_org(org).get(key="mql")
    assert (stage.name, stage.entry_criteria) == (
        "Marketing qualified",
        "Score of 60 or more and a business e-mail.",
    )
    latest = StageDefinitionVersion.objects.for_org(org).order_by("-number").first()
    assert StageDefinitionVersion.objects.for_org(org).count() == versions + 1
    assert latest.note == f"Change request #{change.pk}: Stricter MQL"
    assert stages.export(org) == proposed

    services.change_rollback(org=org, change=change, by=admin)
    change.refresh_from_db()
    assert change.status == ChangeStatus.ROLLED_BACK and change.rolled_back_by == admin
    assert stages.export(org) == original
    assert StageDefinitionVersion.objects.for_org(org).count() == versions + 2


def test_a_change_request_adds_and_removes_stages(org, owner, admin, lead):
    original = stages.export(org)
    proposed = copy.deepcopy(original)
    proposed["stages"].insert(2, {
        "key": "demo_booked", "name": "Demo booked", "order": 25, "kind": "funnel",
        "entry_criteria": "A first meeting with a rep is in the calendar.", "owner_team": None, "rule": [],
    })  # fmt: skip
    versions = StageDefinitionVersion.objects.for_org(org).count()
    change = services.change_create(org=org, by=lead, subject="stages", title="Demo stage", proposed=proposed)
    assert any(line.startswith("+") and "demo_booked" in line for line in services.change_diff(change))
    approved_and_applied(org, change, by=lead, approver=admin)

    keys = list(LifecycleStage.objects.for_org(org).order_by("order").values_list("key", flat=True))
    assert keys[:4] == ["inquiry", "mql", "demo_booked", "sal"]
    assert StageDefinitionVersion.objects.for_org(org).count() == versions + 1
    assert stages.export(org) == proposed

    # Rolling back removes the stage it added (nobody is in it).
    services.change_rollback(org=org, change=change, by=admin)
    assert stages.export(org) == original
    assert not LifecycleStage.objects.for_org(org).filter(key="demo_booked").exists()


def test_a_stage_is_removed_only_when_the_organisation_added_it_and_nobody_is_in_it(org, lead):
    def removing(key):
        proposed = stages.export(org)
        proposed["stages"] = [s for s in proposed["stages"] if s["key"] != key]
        return stages.validate(org, None, proposed)

    assert "revops itself reads" in removing("sal")["stages"][0]
    stage = records.stage_create(
        org=org, key="demo_booked", name="Demo booked", order=25, kind="funnel",
        entry_criteria="A first meeting is in the calendar.",
    )  # fmt: skip
    person = records.lead_create(org=org, email="dana@example.com")
    records.lead_change_stage(org=org, lead=person, to="demo_booked")
    assert removing("demo_booked") == {
        "stages": ["1 lead is in Demo booked: move them to another stage first."]
    }
    records.lead_change_stage(org=org, lead=person, to="sal")
    assert removing("demo_booked") == {}
    assert LifecycleStage.objects.filter(pk=stage.pk).exists()  # validation changed nothing


def test_a_new_stage_is_checked_like_any_other(org):
    proposed = stages.export(org)
    proposed["stages"].append({
        "key": "Demo Booked", "name": "", "order": 90, "kind": "side", "entry_criteria": "",
        "owner_team": None, "rule": [],
    })  # fmt: skip
    errors = stages.validate(org, None, proposed)
    assert list(errors) == ["stages[8].key"]
    assert "lower-case letters" in errors["stages[8].key"][0]
    proposed["stages"][8]["key"] = "demo_booked"
    assert "funnel or a detour" in stages.validate(org, None, proposed)["stages[8].kind"][0]


@pytest.fixture
def pools(org):
    ana, bob, cy = (make_rep(org, name) for name in ("Ana Ruiz", "Bob Lee", "Cy Chan"))
    return {
        "ana": ana, "bob": bob, "cy": cy,
        "emea": pool_with_reps(org, [ana, bob], name="EMEA SDRs"),
        "us": pool_with_reps(org, [cy], name="US SDRs"),
    }  # fmt: skip


def us_rule(pool):
    return pool_rule(pool, "US", {"field": "country", "op": "in", "value": ["US"]})


def test_routing_round_trip(org, owner, admin, lead, pools):
    publish_policy(org, rules=[pool_rule(pools["emea"], "Everyone")], actor=owner)
    policy = policies.policy_for(org)
    original = routing.export(org, policy.pk)
    proposed = {"rules": [us_rule(pools["us"]), pool_rule(pools["emea"], "Everyone")],
                "fallback_pool": pools["emea"].pk}  # fmt: skip

    change = services.change_create(
        org=org, by=lead, subject="routing", target_id=policy.pk, title="US to the US team", proposed=proposed
    )
    change = approved_and_applied(org, change, by=lead, approver=admin)

    published = policies.published_version(org)
    assert published.number == 2 and published.published_by == owner
    assert [r["name"] for r in published.rules] == ["US", "Everyone"]
    assert published.fallback_pool == pools["emea"]
    assert published.note == f"Change request #{change.pk}: US to the US team"
    assert any(line.startswith("+1. US") for line in published.diff)  # the publish service's own diff
    assert routing.export(org, policy.pk) == {
        "rules": policies.clean_rules(org=org, rules=proposed["rules"]),
        "fallback_pool": pools["emea"].pk,
    }

    services.change_rollback(org=org, change=change, by=admin)
    assert routing.export(org, policy.pk) == original
    assert policies.published_version(org).number == 3
    assert RoutingPolicyVersion.objects.for_org(org).filter(status="retired").count() == 2


def test_sla_round_trip_and_a_new_policy(org, owner, admin, lead):
    policy = setup.sla_policy_create(org=org, name="Accept within the hour", target_minutes=60)
    original = sla.export(org, policy.pk)
    proposed = {**original, "target_minutes": 30, "escalation": [{"at_minutes": 20, "action": "remind"}]}

    change = services.change_create(
        org=org, by=lead, subject="sla", target_id=policy.pk, title="Half an hour", proposed=proposed
    )
    approved_and_applied(org, change, by=lead, approver=admin)
    policy.refresh_from_db()
    assert policy.target_minutes == 30
    assert policy.escalation == [{"at_minutes": 20, "action": "remind", "mark_unavailable": False}]

    services.change_rollback(org=org, change=change, by=admin)
    assert sla.export(org, policy.pk) == original

    # No target: the request creates a policy; rolling it back switches it off.
    new = {
        **sla.export(org, None),
        "name": "First touch in a day",
        "clock": "first_touch",
        "target_minutes": 1440,
    }
    created = services.change_create(org=org, by=lead, subject="sla", title="First touch SLA", proposed=new)
    created = approved_and_applied(org, created, by=lead, approver=admin)
    made = SlaPolicy.objects.for_org(org).get(name="First touch in a day")
    assert created.target_id == made.pk and created.before == {}
    assert (made.clock, made.target_minutes, made.is_active) == ("first_touch", 1440, True)
    services.change_rollback(org=org, change=created, by=admin)
    made.refresh_from_db()
    assert made.is_active is False


def test_metrics_round_trip(org, admin, lead, django_capture_on_commit_callbacks):
    original = metrics.export(org)
    assert original == {
        "attribution_lookback_days": 90,
        "time_decay_half_life_days": 7.0,
        "gross_margin": 0.8,
    }
    proposed = {"attribution_lookback_days": 60, "time_decay_half_life_days": 7.0, "gross_margin": 0.65}

    change = services.change_create(
        org=org, by=lead, subject="metrics", title="Margin after hosting", proposed=proposed
    )
    approved_and_applied(org, change, by=lead, approver=admin)
    row = attribution.measurement_settings(org=org)
    assert (row.attribution_lookback_days, row.gross_margin) == (60, Decimal("0.650"))
    assert metrics.export(org) == proposed

    services.change_rollback(org=org, change=change, by=admin)
    assert metrics.export(org) == original


@pytest.fixture
def tree(org):
    revenue = kpi_services.kpi_node_create(org=org, name="New bookings", metric="new_bookings")
    pipeline = kpi_services.kpi_node_create(org=org, name="Pipeline created", parent=revenue.pk)
    kpi_services.kpi_target_set(org=org, node=pipeline, period_start="2026-11-01", value=Decimal("250000"))
    meetings = kpi_services.kpi_node_create(org=org, name="Meetings held", parent=revenue.pk)
    return {"revenue": revenue, "pipeline": pipeline, "meetings": meetings}


def shape(document):
    """The tree without ids: (path of names, position, target rows), to compare across re-creation."""
    by_id = {n["id"]: n for n in document["nodes"]}

    def path(node):
        names = [node["name"]]
        while node["parent"] is not None:
            node = by_id[node["parent"]]
            names.insert(0, node["name"])
        return " / ".join(names)

    return sorted(
        (path(n), n["position"], n["owner"], tuple((t["period_start"], t["value"]) for t in n["targets"]))
        for n in document["nodes"]
    )


def test_kpi_tree_round_trip(org, admin, lead, tree):
    original = kpi.export(org)
    assert shape(original) == [
        ("New bookings", 0, None, ()),
        ("New bookings / Meetings held", 1, None, ()),
        ("New bookings / Pipeline created", 0, None, (("2026-11-01", "250000"),)),
    ]
    proposed = copy.deepcopy(original)
    nodes = {n["name"]: n for n in proposed["nodes"]}
    # Drop "Pipeline created", add "SQLs" (new) under the root with "Meetings held" moved under it,
    # and give the root a target.
    proposed["nodes"].remove(nodes["Pipeline created"])
    proposed["nodes"].append({**nodes["Meetings held"], "id": "new-1", "name": "SQLs", "position": 0,
                              "parent": tree["revenue"].pk, "targets": []})  # fmt: skip
    nodes["Meetings held"].update(parent="new-1", position=0)
    nodes["New bookings"]["targets"] = [{"period_start": "2026-11-01", "value": "400000"}]

    change = services.change_create(
        org=org, by=lead, subject="kpi", title="Meetings come from SQLs", proposed=proposed
    )
    approved_and_applied(org, change, by=lead, approver=admin)

    assert shape(kpi.export(org)) == [
        ("New bookings", 0, None, (("2026-11-01", "400000"),)),
        ("New bookings / SQLs", 0, None, ()),
        ("New bookings / SQLs / Meetings held", 0, None, ()),
    ]
    assert not KpiNode.objects.filter(pk=tree["pipeline"].pk).exists()
    assert KpiNode.objects.get(pk=tree["meetings"].pk).parent.name == "SQLs"

    services.change_rollback(org=org, change=change, by=admin)
    assert shape(kpi.export(org)) == shape(original)
    assert not KpiNode.objects.for_org(org).filter(name="SQLs").exists()
    recreated = KpiNode.objects.for_org(org).get(name="Pipeline created")
    assert recreated.pk != tree["pipeline"].pk  # deleted nodes come back with new ids
    assert KpiTarget.objects.get(node=recreated).value == Decimal("250000")


# --- Effective date and the beat task -----------------------------------------------------------------


def test_a_future_effective_date_waits_for_the_beat_task_which_applies_once(org, admin, lead):
    now = timezone.now()
    proposed = {**metrics.export(org), "gross_margin": 0.7}
    change = services.change_create(
        org=org,
        by=lead,
        subject="metrics",
        title="Margin",
        proposed=proposed,
        effective_at=now + timedelta(hours=2),
    )
    services.change_submit(org=org, change=change, by=lead)
    services.change_approve(org=org, change=change, by=admin, now=now)
    change.refresh_from_db()
    assert change.status == ChangeStatus.APPROVED and change.applied_at is None
    assert metrics.export(org)["gross_margin"] == 0.8

    assert services.apply_due(now=now + timedelta(hours=1)) == 0
    assert metrics.export(org)["gross_margin"] == 0.8

    later = now + timedelta(hours=2, minutes=1)
    assert services.apply_due(now=later) == 1
    change.refresh_from_db()
    assert change.status == ChangeStatus.APPLIED and change.applied_at == later
    assert metrics.export(org)["gross_margin"] == 0.7
    events = change.events.count()

    assert services.apply_due(now=later + timedelta(minutes=1)) == 0
    assert change.events.count() == events  # nothing touched it again


def test_the_beat_task_leaves_a_conflicting_request_approved_with_the_reason(org, admin, lead):
    now = timezone.now()
    proposed = {**metrics.export(org), "gross_margin": 0.7}
    change = services.change_create(
        org=org,
        by=lead,
        subject="metrics",
        title="Margin",
        proposed=proposed,
        effective_at=now + timedelta(hours=1),
    )
    services.change_submit(org=org, change=change, by=lead)
    services.change_approve(org=org, change=change, by=admin, now=now)
    attribution.attribution_settings_update(org=org, lookback_days=30, half_life_days=7)  # control is off

    assert services.apply_due(now=now + timedelta(hours=2)) == 0
    change.refresh_from_db()
    assert change.status == ChangeStatus.APPROVED and change.effective_at is None
    assert "changed since this request was drafted" in change.decision_note
    assert services.apply_due(now=now + timedelta(hours=3)) == 0  # not retried every minute


def test_approving_applies_at_once_without_an_effective_date(org, admin, lead):
    change = services.change_create(
        org=org,
        by=lead,
        subject="metrics",
        title="Margin",
        proposed={**metrics.export(org), "gross_margin": 0.7},
    )
    change = approved_and_applied(org, change, by=lead, approver=admin)
    assert change.status == ChangeStatus.APPLIED


# --- Roles -------------------------------------------------------------------------------------------


def test_who_may_propose_and_approve_what(org, admin, members, pools):
    manager, marketer = members[Role.SALES_MANAGER], members[Role.MARKETER]
    publish_policy(org, rules=[pool_rule(pools["emea"])])
    with pytest.raises(PermissionDenied):
        services.change_create(org=org, by=marketer, subject="routing", title="Mine")
    with pytest.raises(PermissionDenied):
        services.change_create(org=org, by=manager, subject="stages", title="Not mine")

    # A sales manager proposes a routing change; the admin approves it.
    proposed = {"rules": [us_rule(pools["us"]), pool_rule(pools["emea"])], "fallback_pool": None}
    change = services.change_create(org=org, by=manager, subject="routing", title="US", proposed=proposed)
    services.change_submit(org=org, change=change, by=manager)
    with pytest.raises(ServiceError) as refused:
        services.change_approve(org=org, change=change, by=manager)
    assert refused.value.code == "self_approval"
    services.change_approve(org=org, change=change, by=admin)

    # A RevOps lead's stage change: a sales manager may not approve it.
    revops = members[Role.REVOPS_LEAD]
    proposed = stages.export(org)
    proposed["stages"][0]["name"] = "Enquiry"
    change = services.change_create(org=org, by=revops, subject="stages", title="Wording", proposed=proposed)
    services.change_submit(org=org, change=change, by=revops)
    with pytest.raises(PermissionDenied):
        services.change_approve(org=org, change=change, by=manager)
    with pytest.raises(PermissionDenied):
        services.change_reject(org=org, change=change, by=members[Role.VIEWER], note="No")
    services.change_reject(org=org, change=change, by=admin, note="Keep the usual word.")
    change.refresh_from_db()
    assert change.status == ChangeStatus.REJECTED and change.decision_note == "Keep the usual word."


def test_the_only_approver_may_approve_their_own_request(org, admin):
    change = services.change_create(
        org=org,
        by=admin,
        subject="metrics",
        title="Margin",
        proposed={**metrics.export(org), "gross_margin": 0.7},
    )
    services.change_submit(org=org, change=change, by=admin)
    assert services.change_approve(org=org, change=change, by=admin).status == ChangeStatus.APPLIED


def test_a_second_approver_takes_that_right_away(org, admin, lead):
    change = services.change_create(
        org=org,
        by=admin,
        subject="metrics",
        title="Margin",
        proposed={**metrics.export(org), "gross_margin": 0.7},
    )
    services.change_submit(org=org, change=change, by=admin)
    with pytest.raises(ServiceError, match="someone else"):
        services.change_approve(org=org, change=change, by=admin)
    assert services.change_approve(org=org, change=change, by=lead).status == ChangeStatus.APPLIED


# --- Workflow rules ----------------------------------------------------------------------------------


def test_a_conflict_is_refused_until_the_request_is_rebased(org, admin, lead):
    change = services.change_create(
        org=org,
        by=lead,
        subject="metrics",
        title="Margin",
        proposed={**metrics.export(org), "gross_margin": 0.7},
    )
    services.change_submit(org=org, change=change, by=lead)
    attribution.attribution_settings_update(org=org, lookback_days=30, half_life_days=7)
    assert services.has_conflict(change)
    with pytest.raises(ServiceError) as refused:
        services.change_approve(org=org, change=change, by=admin)
    assert refused.value.code == "conflict"

    services.change_rebase(org=org, change=change, by=lead)
    change.refresh_from_db()
    assert change.status == ChangeStatus.DRAFT and change.before["attribution_lookback_days"] == 30
    # The proposal still carries the old lookback: the diff now shows it going back to 90.
    assert '-  "attribution_lookback_days": 30,' in services.change_diff(change)
    services.change_update(org=org, change=change, by=lead, proposed={**change.before, "gross_margin": 0.7})
    approved_and_applied(org, change, by=lead, approver=admin)
    assert metrics.export(org) == {
        "attribution_lookback_days": 30,
        "time_decay_half_life_days": 7.0,
        "gross_margin": 0.7,
    }


def test_a_rollback_is_refused_once_the_subject_changed_again(org, admin, lead):
    first = services.change_create(
        org=org,
        by=lead,
        subject="metrics",
        title="0.7",
        proposed={**metrics.export(org), "gross_margin": 0.7},
    )
    approved_and_applied(org, first, by=lead, approver=admin)
    second = services.change_create(
        org=org,
        by=lead,
        subject="metrics",
        title="0.6",
        proposed={**metrics.export(org), "gross_margin": 0.6},
    )
    approved_and_applied(org, second, by=lead, approver=admin)
    with pytest.raises(ServiceError) as refused:
        services.change_rollback(org=org, change=first, by=admin)
    assert refused.value.code == "conflict"
    services.change_rollback(org=org, change=second, by=admin)
    services.change_rollback(org=org, change=first, by=admin)
    assert metrics.export(org)["gross_margin"] == 0.8


def test_status_rules(org, admin, lead):
    change = services.change_create(org=org, by=lead, subject="metrics", title="Nothing yet")
    with pytest.raises(ServiceError, match="nothing to change"):
        services.change_submit(org=org, change=change, by=lead)
    with pytest.raises(ServiceError, match="cannot be approved"):
        services.change_approve(org=org, change=change, by=admin)
    with pytest.raises(ServiceError, match="cannot be rolled back"):
        services.change_rollback(org=org, change=change, by=admin)
    with pytest.raises(ServiceError) as refused:
        services.change_create(org=org, by=lead, subject="metrics", title="  ")
    assert refused.value.field == "title"


@pytest.mark.parametrize(
    ("subject", "edit", "field"),
    [
        ("stages", lambda d: d["stages"][1].update(entry_criteria="  "), "proposed.stages[1].entry_criteria"),
        ("stages", lambda d: d["stages"][0].update(key="Lead!"), "proposed.stages[0].key"),
        ("stages", lambda d: d["stages"][0].update(key="lead"), "proposed.stages"),  # inquiry stays
        ("stages", lambda d: d["stages"][2].update(kind="detour"), "proposed.stages[2].kind"),
        ("stages", lambda d: d["stages"][0].update(order="first"), "proposed.stages[0].order"),
        ("metrics", lambda d: d.update(gross_margin=1.5), "proposed.gross_margin"),
        ("metrics", lambda d: d.update(attribution_lookback_days=0), "proposed.attribution_lookback_days"),
        ("metrics", lambda d: d.update(colour="blue"), "proposed.colour"),
        ("kpi", lambda d: d["nodes"][0].update(parent=d["nodes"][1]["id"]), "proposed.nodes[0].parent"),
        ("kpi", lambda d: d["nodes"][1].update(combine="average"), "proposed.nodes[1].combine"),
        (
            "kpi",
            lambda d: d["nodes"][1]["targets"][0].update(period_start="2026-11-15"),
            "proposed.nodes[1].targets[0].period_start",
        ),
    ],
)
def test_errors_name_the_field_of_the_proposed_document(org, lead, tree, subject, edit, field):
    module = {"stages": stages, "metrics": metrics, "kpi": kpi}[subject]
    proposed = copy.deepcopy(module.export(org))
    edit(proposed)
    with pytest.raises(services.ProposalInvalid) as refused:
        services.change_create(org=org, by=lead, subject=subject, title="Broken", proposed=proposed)
    assert field in refused.value.fields
    assert not ChangeRequest.objects.for_org(org).exists()


def test_routing_errors_name_the_rule(org, lead, other_org, pools):
    foreign = pool_with_reps(other_org, [], name="Theirs")
    proposed = {"rules": [pool_rule(pools["emea"]), pool_rule(foreign)], "fallback_pool": None}
    with pytest.raises(services.ProposalInvalid) as refused:
        services.change_create(org=org, by=lead, subject="routing", title="Broken", proposed=proposed)
    assert refused.value.fields == {"proposed.rules[1].action.pool": ["Choose a queue of this organisation."]}


# --- Change control ----------------------------------------------------------------------------------


def test_change_control_refuses_direct_edits_and_lets_requests_through(org, owner, admin, lead, pools, tree):
    policy = setup.sla_policy_create(org=org, name="Accept", target_minutes=60)
    publish_policy(org, rules=[pool_rule(pools["emea"])], actor=owner)
    services.change_control_set(org=org, enabled=True)
    stage = LifecycleStage.objects.for_org(org).get(key="sql")
    direct_edits = {
        "stages": lambda: records.stage_update(org=org, stage=stage, name="Qualified"),
        "routing": lambda: (
            policies.draft_update(org=org, policy=policies.policy_for(org), rules=[]),
            policies.policy_publish(org=org, policy=policies.policy_for(org), actor=owner),
        ),
        "sla": lambda: setup.sla_policy_update(
            org=org, policy=policy, name="Accept", target_minutes=5, clock="accept"
        ),
        "sla-create": lambda: setup.sla_policy_create(org=org, name="Another", target_minutes=5),
        "metrics": lambda: attribution.attribution_settings_update(
            org=org, lookback_days=30, half_life_days=7
        ),
        "kpi-create": lambda: kpi_services.kpi_node_create(org=org, name="Another"),
        "kpi-update": lambda: kpi_services.kpi_node_update(org=org, node=tree["meetings"], name="Calls"),
        "kpi-move": lambda: kpi_services.kpi_node_move(org=org, node=tree["meetings"], parent=None),
        "kpi-delete": lambda: kpi_services.kpi_node_delete(org=org, node=tree["meetings"]),
        "kpi-target": lambda: kpi_services.kpi_target_set(
            org=org, node=tree["revenue"], period_start="2026-11-01", value=1
        ),
        "kpi-target-delete": lambda: kpi_services.kpi_target_delete(
            org=org, node=tree["pipeline"], period_start="2026-11-01"
        ),
    }
    for name, edit in direct_edits.items():
        with pytest.raises(ServiceError) as refused:
            edit()
        assert refused.value.code == "change_control", name
        assert "change request" in refused.value.message
    assert LifecycleStage.objects.for_org(org).get(key="sql").name == "SQL"

    proposed = stages.export(org)
    next(s for s in proposed["stages"] if s["key"] == "sql")["name"] = "Qualified"
    change = services.change_create(org=org, by=lead, subject="stages", title="Rename SQL", proposed=proposed)
    approved_and_applied(org, change, by=lead, approver=admin)
    assert LifecycleStage.objects.for_org(org).get(key="sql").name == "Qualified"
    assert not guard._applying.get()  # the sanctioned path is closed again afterwards

    services.change_control_set(org=org, enabled=False)
    records.stage_update(org=org, stage=LifecycleStage.objects.for_org(org).get(key="sql"), name="SQL")


def test_change_control_is_per_organisation(org, other_org):
    services.change_control_set(org=other_org, enabled=True)
    assert guard.change_control_on(other_org) and not guard.change_control_on(org)
    guard.ensure_direct_edit_allowed(org, "stages")
    with pytest.raises(ServiceError):
        guard.ensure_direct_edit_allowed(other_org, "stages")


# --- The model as of a date --------------------------------------------------------------------------


def test_applied_state_at_follows_applies_and_rollbacks(org, admin, lead):
    first = services.change_create(
        org=org,
        by=lead,
        subject="metrics",
        title="0.7",
        proposed={**metrics.export(org), "gross_margin": 0.7},
    )
    approved_and_applied(org, first, by=lead, approver=admin)
    t0 = timezone.now() - timedelta(days=10)
    ChangeRequest.objects.filter(pk=first.pk).update(applied_at=t0)
    services.change_rollback(org=org, change=first, by=admin, now=t0 + timedelta(days=5))

    def at(moment):
        document, change, how = services.applied_state_at(
            org=org, subject="metrics", target_id=None, at=moment
        )
        return (document or {}).get("gross_margin"), change, how

    assert at(t0 - timedelta(days=1)) == (None, None, None)
    assert at(t0 + timedelta(days=1))[0::2] == (0.7, "applied")
    assert at(t0 + timedelta(days=6))[0::2] == (0.8, "rolled back")


def test_reviewers_and_the_requester_are_notified(org, admin, lead, members, pools):
    from apps.execution.models import Notification

    change = services.change_create(
        org=org,
        by=lead,
        subject="routing",
        title="US team",
        proposed={"rules": [], "fallback_pool": pools["emea"].pk},
    )
    services.change_submit(org=org, change=change, by=lead)
    reviewers = set(Notification.objects.filter(kind="change_request").values_list("recipient", flat=True))
    # Admins, RevOps leads and sales managers may approve routing; not the requester.
    assert reviewers == {
        admin.pk,
        members[Role.ADMIN].pk,
        members[Role.REVOPS_LEAD].pk,
        members[Role.SALES_MANAGER].pk,
    }
    note = Notification.objects.filter(recipient=admin).get()
    assert note.title == "Change request to review: US team"
    assert note.url == f"/o/{org.slug}/governance/changes/{change.pk}/"

    services.change_reject(org=org, change=change, by=admin, note="Keep the US rule.")
    told = Notification.objects.get(recipient=lead)
    assert (told.title, told.body) == (
        "Change request rejected: US team",
        "Keep the US rule.",
    )


def test_the_beat_task_applies_what_is_due(org, admin, lead):
    from apps.governance.changes_tasks import apply_due_changes

    proposed = {**metrics.export(org), "gross_margin": 0.7}
    change = services.change_create(
        org=org,
        by=lead,
        subject="metrics",
        title="Margin",
        proposed=proposed,
        effective_at=timezone.now() + timedelta(days=1),
    )
    services.change_submit(org=org, change=change, by=lead)
    services.change_approve(org=org, change=change, by=admin)
    assert apply_due_changes() == 0
    ChangeRequest.objects.filter(pk=change.pk).update(effective_at=timezone.now() - timedelta(minutes=1))
    assert apply_due_changes() == 1
    change.refresh_from_db()
    assert change.status == ChangeStatus.APPLIED and metrics.export(org)["gross_margin"] == 0.7
