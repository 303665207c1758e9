"""The impact preview on hand-built fixtures: routing replayed on the last 30 days of leads, SLA targets
judged on the last 30 days of timers, and the diff alone for the other subjects."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.roles import Role
from apps.core.errors import ServiceError
from apps.execution.models import SlaTimer
from apps.execution.services import policies, setup
from apps.governance.changes import metrics, sla
from apps.governance.models import ChangeStatus
from apps.governance.services import changes as services
from tests import factories
from tests.execution.conftest import (
    make_rep,
    new_lead,
    pool_rule,
    pool_with_reps,
    publish_policy,
    route_pending,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead_member(org):
    return factories.make_member(org, role=Role.REVOPS_LEAD)


@pytest.fixture
def team(org):
    ana, bob, cy = (make_rep(org, name) for name in ("Ana Ruiz", "Bob Lee", "Cy Chan"))
    return {
        "ana": ana, "bob": bob, "cy": cy,
        "emea": pool_with_reps(org, [ana, bob], name="EMEA SDRs"),
        "us": pool_with_reps(org, [cy], name="US SDRs"),
    }  # fmt: skip


@pytest.fixture
def routed(org, owner, team):
    """Everything goes to EMEA; four leads of the last two days (FR, US, DE, US) and one 40 days old."""
    publish_policy(org, rules=[pool_rule(team["emea"], "Everyone")], actor=owner)
    now = timezone.now()
    leads = []
    for hours, country in ((47, "FR"), (46, "US"), (45, "DE"), (44, "US"), (40 * 24, "US")):
        lead = new_lead(org, country=country, captured_at=now - timedelta(hours=hours))
        route_pending(lead)
        leads.append(lead)
    return leads


def test_routing_impact_counts_changed_owners_and_queues_and_the_load_per_rep(org, lead_member, team, routed):
    us_rule = pool_rule(team["us"], "US", {"field": "country", "op": "in", "value": ["US"]})
    proposed = {"rules": [us_rule, pool_rule(team["emea"], "Everyone")], "fallback_pool": None}
    change = services.change_create(
        org=org, by=lead_member, subject="routing", target_id=policies.policy_for(org).pk, title="US team",
        proposed=proposed,
    )  # fmt: skip

    change = services.change_preview(org=org, change=change)
    impact = change.impact

    # Both runs start from the same ledger. Now: EMEA takes the four in turn (X, Y, X, Y). Proposed:
    # the FR lead goes to X, both US leads to Cy, the DE lead to Y. The old US lead is outside the window.
    assert impact["kind"] == "routing" and impact["leads"] == 4
    assert impact["owner_changed"] == 3  # US → Cy twice, and DE moves from X to Y
    assert impact["pool_changed"] == 2
    assert (impact["unassigned_before"], impact["unassigned_after"]) == (0, 0)
    rows = {row["name"]: (row["before"], row["after"], row["change"]) for row in impact["load"]}
    assert rows == {"Ana Ruiz": (2, 1, -1), "Bob Lee": (2, 1, -1), "Cy Chan": (0, 2, 2)}
    assert impact["load"][0]["name"] == "Cy Chan"  # the biggest move first
    assert impact["computed_at"] and impact["diff_lines"] > 0
    assert change.status == ChangeStatus.DRAFT


def test_routing_impact_of_the_same_rules_changes_nothing(org, lead_member, team, routed):
    change = services.change_create(org=org, by=lead_member, subject="routing", title="Same")
    impact = services.change_preview(org=org, change=change).impact
    assert (impact["leads"], impact["owner_changed"], impact["pool_changed"], impact["diff_lines"]) == (
        4,
        0,
        0,
        0,
    )
    assert all(row["change"] == 0 for row in impact["load"])


def test_an_account_policys_impact_replays_the_accounts_not_the_leads(org, owner, lead_member, team, routed):
    from apps.execution.models import RoutingRequest
    from apps.execution.services import routing
    from apps.records import services as records

    policy = policies.policy_for(org, "account")
    policies.draft_update(org=org, policy=policy, rules=[pool_rule(team["emea"], "Everyone")], actor=owner)
    policies.policy_publish(org=org, policy=policy, actor=owner)
    for country in ("FR", "US", "DE", "US"):
        account = records.account_create(org=org, name=f"Account in {country}", country=country)
        routing.route_request(request_id=RoutingRequest.objects.get(account=account).pk)
    us_rule = pool_rule(team["us"], "US", {"field": "country", "op": "in", "value": ["US"]})
    proposed = {"rules": [us_rule, pool_rule(team["emea"], "Everyone")], "fallback_pool": None}
    change = services.change_create(
        org=org,
        by=lead_member,
        subject="routing",
        target_id=policy.pk,
        title="US accounts",
        proposed=proposed,
    )
    impact = services.change_preview(org=org, change=change).impact
    # The same arithmetic as the leads above, on the four accounts; the five leads are not replayed.
    assert impact["object"] == "account" and impact["leads"] == 4
    assert (impact["owner_changed"], impact["pool_changed"]) == (3, 2)
    rows = {row["name"]: (row["before"], row["after"], row["change"]) for row in impact["load"]}
    assert rows == {"Ana Ruiz": (2, 1, -1), "Bob Lee": (2, 1, -1), "Cy Chan": (0, 2, 2)}


def test_sla_impact_judges_the_recorded_timers_against_both_targets(org, owner, lead_member, team):
    policy = setup.sla_policy_create(org=org, name="Accept within the hour", target_minutes=60)
    publish_policy(org, rules=[pool_rule(team["emea"], "Everyone")], actor=owner)
    now = timezone.now()
    start = now - timedelta(days=2)
    # Met after 20, 45 and 90 minutes; one never met (two days running); one cancelled; one too old.
    plan = [
        (start, 20),
        (start, 45),
        (start, 90),
        (start, None),
        (start, "cancelled"),
        (now - timedelta(days=31), 5),
    ]
    for started, met in plan:
        lead = new_lead(org, country="FR", captured_at=started)
        route_pending(lead)
        timer = SlaTimer.objects.get(lead=lead)
        timer.started_at = started
        if met == "cancelled":
            timer.status = SlaTimer.Status.CANCELLED
        elif met is not None:
            timer.status, timer.met_at = SlaTimer.Status.MET, started + timedelta(minutes=met)
        timer.save()
    proposed = {**sla.export(org, policy.pk), "target_minutes": 30}
    change = services.change_create(
        org=org, by=lead_member, subject="sla", target_id=policy.pk, title="Half an hour", proposed=proposed
    )

    impact = services.change_preview(org=org, change=change, now=now).impact

    assert impact["kind"] == "sla" and impact["timers"] == 4
    assert impact["before"] == {"target_minutes": 60, "met": 2, "breached": 2, "open": 0}
    assert impact["after"] == {"target_minutes": 30, "met": 1, "breached": 3, "open": 0}
    assert impact["clock_changed"] is False

    services.change_update(
        org=org, change=change, by=lead_member, proposed={**proposed, "target_minutes": 5000}
    )
    impact = services.change_preview(org=org, change=change, now=now).impact
    # 5000 minutes is more than the two days the unmet timer has run: it is still open.
    assert impact["after"] == {"target_minutes": 5000, "met": 3, "breached": 0, "open": 1}


def test_other_subjects_preview_the_diff(org, lead_member):
    change = services.change_create(
        org=org, by=lead_member, subject="metrics", title="Margin",
        proposed={**metrics.export(org), "gross_margin": 0.7},
    )  # fmt: skip
    impact = services.change_preview(org=org, change=change).impact
    assert impact["kind"] == "diff" and impact["diff_lines"] == 2  # one line out, one line in


def test_a_hold_rule_proposed_for_opportunities_is_refused_when_submitted(org, lead_member, team):
    policy = policies.policy_for(org, "opportunity")
    hold = {"name": "Wait", "conditions": [], "action": {"type": "hold", "min_completeness": 0.5}}
    with pytest.raises(ServiceError) as caught:
        services.change_create(
            org=org, by=lead_member, subject="routing", target_id=policy.pk, title="Hold deals",
            proposed={"rules": [hold], "fallback_pool": None},
        )  # fmt: skip
    assert "no completeness score" in str(caught.value.fields or caught.value.message)
