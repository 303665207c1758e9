"""Detail pages: the lead's timeline and time in stage, stage and owner changes, accounts, opportunities."""

import datetime
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.accounts.roles import Role
from apps.records import definitions, selectors, services
from apps.records.models import Lead, Origin, StageEvent
from tests import factories

pytestmark = pytest.mark.django_db


def url(name, org, *args):
    return reverse(name, args=[org.slug, *args])


@pytest.fixture
def rep(org):
    user = factories.make_user(email="rita@acme.test", full_name="Rita Rep")
    return factories.make_member(org, role=Role.SALES_REP, user=user)


@pytest.fixture
def manager(org):
    user = factories.make_user(email="manny@acme.test", full_name="Manny Manager")
    return factories.make_member(org, role=Role.SALES_MANAGER, user=user)


# --- Timeline ------------------------------------------------------------------------------


def test_lead_timeline_merges_stage_events_touchpoints_and_owner_changes(
    owner_client, org, owner, rep, manager
):
    t0 = timezone.now() - timedelta(days=3)
    lead = services.lead_create(org=org, email="ann@acme.test", first_name="Ann", owner=rep, captured_at=t0)
    services.touchpoint_create(
        org=org,
        lead=lead,
        channel="Paid Social",
        source="LinkedIn",
        utm_source="linkedin",
        utm_campaign="spring-launch",
        type="ad_click",
        occurred_at=t0 + timedelta(hours=1),
    )
    services.lead_change_stage(
        org=org, lead=lead, to="mql", actor=owner, origin=Origin.UI, reason="Downloaded the guide",
        at=t0 + timedelta(hours=2),
    )  # fmt: skip
    api_key, _ = factories.make_api_key(org)
    services.lead_change_stage(
        org=org, lead=lead, to="sal", api_key=api_key, reason="Accepted in CRM", at=t0 + timedelta(hours=3)
    )
    response = owner_client.post(url("records_lead", org, lead.pk), {"action": "owner", "owner": manager.pk})
    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.owner == manager

    html = owner_client.get(url("records_lead", org, lead.pk)).content.decode()
    timeline = html[html.index('id="timeline"') :]
    # Newest first: the owner change (just now), then SAL, MQL, the touch, and the capture.
    marks = [
        "Owner changed",
        "MQL → SAL",
        "Inquiry → MQL",
        "Ad click",
        "Entered Inquiry",
    ]
    positions = [timeline.index(mark) for mark in marks]
    assert positions == sorted(positions)
    assert "Rita Rep → Manny Manager" in timeline
    assert "by owner@acme.test" in timeline  # who changed the owner, from the audit context
    assert "“Downloaded the guide”" in timeline and "by Olivia Owner" in timeline
    assert f"by API key {api_key.prefix}" in timeline and "via API" in timeline
    assert "spring-launch" in timeline and "Paid Social" in timeline and "LinkedIn" in timeline


def test_owner_changes_come_from_the_audit_snapshots(org, rep, manager):
    lead = services.lead_create(org=org, email="ann@acme.test")
    assert selectors.lead_owner_changes(org=org, lead=lead) == []  # never updated: nothing recorded
    services.lead_update(org=org, lead=lead, owner=rep)
    services.lead_update(org=org, lead=lead, title="CTO")  # not an owner change
    services.lead_update(org=org, lead=lead, owner=manager)
    services.lead_update(org=org, lead=lead, owner=None)
    entries = selectors.lead_owner_changes(org=org, lead=lead)
    assert [(e.title, e.detail) for e in entries] == [
        ("Owner on record: Rita Rep", []),
        ("Owner changed", [("owner", "Rita Rep → Manny Manager")]),
        ("Owner changed", [("owner", "Manny Manager → nobody")]),
    ]


# --- Time in stage ---------------------------------------------------------------------------


def _reentry_lead(org, t0):
    lead = services.lead_create(org=org, email="ann@acme.test", captured_at=t0)
    for to, hours in (("mql", 2), ("recycled", 5), ("mql", 24), ("sql", 28)):
        services.lead_change_stage(org=org, lead=lead, to=to, reason="test", at=t0 + timedelta(hours=hours))
    return lead


def test_time_in_stage_with_reentry_is_hand_computed(org):
    t0 = datetime.datetime(2026, 1, 5, 9, 0, tzinfo=datetime.UTC)
    lead = _reentry_lead(org, t0)
    summary = selectors.lead_stage_summary(
        stage_events=selectors.lead_stage_events(org=org, lead=lead),
        stage_list=selectors.stage_list(org=org),
        current_key="sql",
        now=t0 + timedelta(hours=30),
    )
    # inquiry 09:00→11:00; mql 11:00→14:00 and again day 2 09:00→13:00; recycled 14:00→09:00; sql since 13:00.
    assert [(r.key, r.seconds / 3600, r.entries, r.current) for r in summary.rows] == [
        ("inquiry", 2, 1, False),
        ("mql", 3 + 4, 2, False),
        ("sql", 2, 1, True),
        ("recycled", 19, 1, False),
    ]
    assert summary.reentered == ["MQL"]
    assert summary.skipped == ["SAL"]  # MQL → SQL jumped over SAL, never entered


def test_lead_page_shows_time_in_stage(owner_client, org):
    t0 = timezone.now() - timedelta(days=10)
    lead = _reentry_lead(org, t0)
    html = owner_client.get(url("records_lead", org, lead.pk)).content.decode()
    block = html[html.index('id="time-in-stage"') : html.index('id="timeline"')]
    assert "<td>MQL</td><td>7h</td><td>2\u00d7</td>" in block
    assert "<td>Recycled</td><td>19h</td><td>1\u00d7</td>" in block
    assert "<td>Inquiry</td><td>2h</td>" in block
    assert "Re-entered: MQL" in block and "Skipped: SAL" in block


def test_format_duration():
    assert selectors.format_duration(30) == "under a minute"
    assert selectors.format_duration(45 * 60) == "45m"
    assert selectors.format_duration(7 * 3600) == "7h"
    assert selectors.format_duration(2 * 3600 + 5 * 60) == "2h 5m"
    assert selectors.format_duration(3 * 86400 + 4 * 3600 + 59) == "3d 4h"


# --- Changing stage and owner on the lead page ----------------------------------------------------


def test_rep_changes_stage_with_a_reason(client, org, rep):
    lead = services.lead_create(org=org, email="ann@acme.test")
    client.force_login(rep.user)
    response = client.post(
        url("records_lead", org, lead.pk), {"action": "stage", "stage": "mql", "reason": ""}
    )
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not StageEvent.objects.filter(lead=lead, to_stage="mql").exists()

    response = client.post(
        url("records_lead", org, lead.pk), {"action": "stage", "stage": "mql", "reason": "Asked for a demo"}
    )
    assert response.status_code == 302
    event = StageEvent.objects.get(lead=lead, to_stage="mql")
    assert (event.origin, event.actor_id, event.reason, event.from_stage) == (
        Origin.UI, rep.user_id, "Asked for a demo", "inquiry"
    )  # fmt: skip
    assert Lead.objects.get(pk=lead.pk).stage.key == "mql"


@pytest.mark.parametrize(
    "role, action, status",
    [(Role.VIEWER, "stage", 403), (Role.MARKETER, "stage", 403), (Role.SALES_REP, "owner", 403)],
)
def test_lead_page_writes_need_their_permission(client, org, members, role, action, status):
    lead = services.lead_create(org=org, email="ann@acme.test")
    client.force_login(members[role].user)
    page = client.get(url("records_lead", org, lead.pk)).content.decode()
    assert ("Change stage" in page) == members[role].can("leads.work")
    data = {"action": action, "stage": "mql", "reason": "x", "owner": members[role].pk}
    assert client.post(url("records_lead", org, lead.pk), data).status_code == status
    lead.refresh_from_db()
    assert lead.stage.key == "inquiry" and lead.owner_id is None


def test_another_orgs_records_are_404_through_our_address(owner_client, org, other_org):
    lead = services.lead_create(org=other_org, email="secret@globex.test")
    account = services.account_create(org=other_org, name="Globex", domain="globex.test")
    opportunity = services.opportunity_create(org=other_org, name="Globex deal", amount=1)
    assert owner_client.get(url("records_lead", org, lead.pk)).status_code == 404
    assert (
        owner_client.post(url("records_lead", org, lead.pk), {"stage": "mql", "reason": "x"}).status_code
        == 404
    )
    assert owner_client.get(url("records_account", org, account.pk)).status_code == 404
    assert owner_client.get(url("records_opportunity", org, opportunity.pk)).status_code == 404
    assert not StageEvent.objects.filter(lead=lead, to_stage="mql").exists()


def test_lead_page_shows_fields_custom_fields_and_completeness(owner_client, org, rep):
    definitions.custom_field_create(org=org, object_type="lead", key="plan", label="Plan tier")
    account = services.account_create(org=org, name="Acme", domain="acme.test")
    lead = services.lead_create(
        org=org, email="ann@acme.test", first_name="Ann", title="CTO", owner=rep, custom={"plan": "Gold"}
    )
    html = owner_client.get(url("records_lead", org, lead.pk)).content.decode()
    assert "Plan tier" in html and "Gold" in html
    assert "Rita Rep" in html and "CTO" in html
    assert reverse("records_account", args=[org.slug, account.pk]) in html
    assert "Missing required: <code>company</code>, <code>source</code>" in html


def test_merged_lead_page_points_to_its_survivor(owner_client, org):
    survivor = services.lead_create(org=org, email="ann@acme.test", first_name="Ann")
    merged = services.lead_create(org=org, email="ann2@acme.test")
    Lead.objects.filter(pk=merged.pk).update(merged_into=survivor)
    html = owner_client.get(url("records_lead", org, merged.pk)).content.decode()
    assert (
        "This lead was merged into" in html and reverse("records_lead", args=[org.slug, survivor.pk]) in html
    )


def test_lead_page_query_count_is_bounded(owner_client, org, rep, django_assert_max_num_queries):
    lead = services.lead_create(org=org, email="ann@acme.test", owner=rep)
    for n in range(10):
        services.touchpoint_create(org=org, lead=lead, source=f"s{n}")
    for to in ("mql", "sal", "sql", "recycled", "mql"):
        services.lead_change_stage(org=org, lead=lead, to=to, reason="x")
    with django_assert_max_num_queries(18):  # 16, plus the playbooks of the lead's stage and its journeys
        assert owner_client.get(url("records_lead", org, lead.pk)).status_code == 200


# --- Accounts and opportunities ------------------------------------------------------------------


def test_account_page_lists_leads_opportunities_subscriptions_and_touchpoints(owner_client, org):
    account = services.account_create(org=org, name="Acme", domain="acme.test", industry="Software")
    lead = services.lead_create(org=org, email="ann@acme.test", first_name="Ann")
    assert lead.account == account  # matched by domain
    services.opportunity_create(
        org=org, name="Acme expansion", account=account, amount=5000, type="expansion"
    )
    services.customer_create(org=org, account=account, arr=12000, start_date=datetime.date(2025, 3, 1))
    services.touchpoint_create(org=org, account=account, channel="Events", type="meeting")
    html = owner_client.get(url("records_account", org, account.pk)).content.decode()
    assert "Software" in html and "ann@acme.test" in html
    assert "Acme expansion" in html and "Expansion" in html
    assert "12000.00" in html and "2025-03-01" in html and "active" in html
    assert "Events" in html and "meeting" in html
    assert f"?account={account.pk}" in html  # the drill-down into the filtered lead list


def test_opportunity_page_links_account_and_contact(owner_client, org):
    account = services.account_create(org=org, name="Acme", domain="acme.test")
    lead = services.lead_create(org=org, email="ann@acme.test", first_name="Ann")
    opportunity = services.opportunity_create(
        org=org, name="Acme deal", account=account, primary_contact=lead, amount=900, status="lost",
        loss_reason="Budget",
    )  # fmt: skip
    html = owner_client.get(url("records_opportunity", org, opportunity.pk)).content.decode()
    assert reverse("records_account", args=[org.slug, account.pk]) in html
    assert reverse("records_lead", args=[org.slug, lead.pk]) in html
    assert "Budget" in html and "Lost" in html


@pytest.mark.parametrize("role", [Role.VIEWER, Role.MARKETER])
def test_detail_pages_are_readable_by_every_member(client, org, members, role):
    account = services.account_create(org=org, name="Acme", domain="acme.test")
    lead = services.lead_create(org=org, email="ann@acme.test")
    opportunity = services.opportunity_create(org=org, name="Deal", account=account, amount=1)
    client.force_login(members[role].user)
    for name, pk in (
        ("records_lead", lead.pk),
        ("records_account", account.pk),
        ("records_opportunity", opportunity.pk),
    ):
        assert client.get(url(name, org, pk)).status_code == 200
