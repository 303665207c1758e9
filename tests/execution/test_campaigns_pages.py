"""Campaign pages, CSV and API: the same numbers everywhere, permissions, results read from the rollups."""

import csv
import datetime
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.accounts.roles import Role
from apps.execution.models import Campaign, CampaignTransition
from apps.execution.selectors import campaigns as selectors
from apps.execution.services import campaigns as services
from apps.measurement.models import AttributionDay, ResponseDay, SpendEntry, TouchDay
from apps.measurement.models.rollups import FunnelDay

pytestmark = pytest.mark.django_db
UTC = datetime.UTC
VALUE = "2026-q1-webinar-forecasting"


def login(client, members, role):
    client.force_login(members[role].user)
    return client


@pytest.fixture
def campaign(org, members):
    return services.campaign_request(
        org=org,
        requested_by=members[Role.MARKETER],
        name="Forecasting webinar",
        type="webinar",
        utm_source="webinar",
        utm_medium="email",
        utm_campaign=VALUE,
        start_date=datetime.date(2026, 3, 1),
        planned_budget=5000,
        success_metric="leads",
        success_target=100,
    )


@pytest.fixture
def facts(org):
    """Hand-made daily facts for the campaign's value, and some for another campaign that must not count."""
    d = datetime.date
    for value, n in ((VALUE, 1), ("2026-q1-other", 100)):
        TouchDay.objects.create(organization=org, day=d(2026, 3, 2), campaign=value, touches=30 * n, people=9)
        TouchDay.objects.create(organization=org, day=d(2026, 3, 9), campaign=value, touches=12 * n, people=5)
        FunnelDay.objects.create(
            organization=org, day=d(2026, 3, 3), stage="inquiry", campaign=value, created=8 * n
        )
        FunnelDay.objects.create(
            organization=org, day=d(2026, 3, 4), stage="mql", campaign=value, created=2 * n
        )
        ResponseDay.objects.create(
            organization=org, day=d(2026, 3, 4), campaign=value, assignments=8 * n, rejected=n
        )
        for model, pipeline, revenue in (("linear", 40000, 12000), ("first_touch", 60000, 20000)):
            AttributionDay.objects.create(
                organization=org,
                day=d(2026, 3, 10),
                model=model,
                campaign=value,
                pipeline=pipeline * n,
                revenue=revenue * n,
                opportunities=1,
                won=1,
            )
    # Spend for the campaign: 3,000 in March (all inside the window) + 1,000 on 2 March.
    SpendEntry.objects.create(
        organization=org,
        channel="Events",
        campaign_ref=VALUE,
        amount=3000,
        period_start=d(2026, 3, 1),
        period_end=d(2026, 3, 31),
    )
    SpendEntry.objects.create(
        organization=org,
        channel="Events",
        campaign_ref=VALUE,
        amount=1000,
        period_start=d(2026, 3, 2),
        period_end=d(2026, 3, 2),
    )
    SpendEntry.objects.create(
        organization=org,
        channel="Events",
        campaign_ref="2026-q1-other",
        amount=99999,
        period_start=d(2026, 3, 2),
        period_end=d(2026, 3, 2),
    )


TODAY = datetime.date(2026, 3, 31)


def test_results_by_hand(org, campaign, facts):
    found = selectors.campaign_results(org=org, campaign=campaign, today=TODAY)
    assert (found.start, found.end) == (datetime.date(2026, 3, 1), TODAY)
    assert found.touches == 42  # 30 + 12
    assert found.leads == 10  # 8 + 2 created
    assert (found.pipeline, found.revenue) == (40000, 12000)  # linear by default
    assert found.cost == 4000  # 3,000 + 1,000
    assert found.roi == 200.0  # (12,000 - 4,000) / 4,000
    assert (found.assignments, found.rejected, found.reject_rate) == (8, 1, 12.5)
    first = selectors.campaign_results(org=org, campaign=campaign, model="first_touch", today=TODAY)
    assert (first.revenue, first.roi) == (20000, 400.0)


def test_results_window_clips_spend(org, campaign, facts):
    # From 16 March: half of the March invoice (16 of 31 days), none of the 2 March entry, no touches.
    campaign.start_date = datetime.date(2026, 3, 16)
    found = selectors.campaign_results(org=org, campaign=campaign, today=TODAY)
    assert found.cost == 1548.39  # 3,000 x 16 / 31
    assert (found.touches, found.revenue, found.roi) == (0, 0, -100.0)


def test_no_results_without_a_value_or_before_the_start(org, campaign):
    campaign.start_date = datetime.date(2099, 1, 1)
    assert selectors.campaign_results(org=org, campaign=campaign) is None
    campaign.start_date, campaign.utm_campaign = datetime.date(2026, 1, 1), ""
    assert selectors.campaign_results(org=org, campaign=campaign) is None


def test_page_and_api_show_the_same_numbers(org, campaign, facts, owner_client, api, monkeypatch):
    monkeypatch.setattr(selectors, "local_today", lambda org: TODAY)
    page = owner_client.get(reverse("execution_campaign", args=[org.slug, campaign.pk]))
    body = page.content.decode()
    assert page.status_code == 200
    for element, text in (
        ("touches", "42"),
        ("leads", "10"),
        ("pipeline", "40000.00"),
        ("revenue", "12000.00"),
        ("cost", "4000.00"),
        ("roi", "200.0%"),
        ("reject-rate", "12.5%"),
    ):
        assert f'id="result-{element}">{text}<' in body, element
    data = api.get(reverse("api-campaign-detail", args=[campaign.pk])).json()
    assert data["results"] == {
        "start": "2026-03-01",
        "end": "2026-03-31",
        "model": "linear",
        "model_label": "Linear",
        "touches": 42,
        "leads": 10,
        "pipeline": 40000.0,
        "revenue": 12000.0,
        "cost": 4000.0,
        "roi": 200.0,
        "assignments": 8,
        "rejected": 1,
        "reject_rate": 12.5,
    }
    by_model = api.get(reverse("api-campaign-detail", args=[campaign.pk]), {"model": "first_touch"}).json()
    assert by_model["results"]["roi"] == 400.0


def test_the_organisations_default_model_credits_results_when_none_is_asked_for(
    org, campaign, facts, owner_client, api, monkeypatch
):
    monkeypatch.setattr(selectors, "local_today", lambda org: TODAY)
    org.attribution_model = "first_touch"
    org.save()
    page_url = reverse("execution_campaign", args=[org.slug, campaign.pk])
    # First touch credits 60,000 of pipeline and 20,000 of revenue: ROI (20,000 - 4,000) / 4,000 = 400%.
    found = selectors.campaign_results(org=org, campaign=campaign, today=TODAY)
    assert (found.model, found.pipeline, found.revenue, found.roi) == ("first_touch", 60000, 20000, 400.0)
    body = owner_client.get(page_url).content.decode()
    assert 'id="result-pipeline">60000.00<' in body
    assert 'id="result-revenue">20000.00<' in body
    assert 'id="result-roi">400.0%<' in body
    assert "Credit by the First touch model, the organisation's default." in body
    assert f'<a href="{reverse("settings_org", args=[org.slug])}">Change the default model</a>' in body
    assert '<option value="first_touch" selected>' in body
    # Asking for linear still shows linear, and names the default: 40,000 and 12,000, ROI 200%.
    body = owner_client.get(page_url, {"model": "linear"}).content.decode()
    assert 'id="result-revenue">12000.00<' in body
    assert 'id="result-roi">200.0%<' in body
    assert "Credit by the Linear model; the organisation's default is First touch." in body
    # An unknown model falls back to the organisation's default, not to linear.
    assert 'id="result-revenue">20000.00<' in owner_client.get(page_url, {"model": "nope"}).content.decode()

    detail = reverse("api-campaign-detail", args=[campaign.pk])
    results = api.get(detail).json()["results"]
    assert (results["model"], results["pipeline"], results["revenue"], results["roi"]) == (
        "first_touch",
        60000.0,
        20000.0,
        400.0,
    )
    results = api.get(detail, {"model": "linear"}).json()["results"]
    assert (results["model"], results["revenue"], results["roi"]) == ("linear", 12000.0, 200.0)


def test_detail_page_empty_results_say_what_to_do(org, members, client):
    campaign = services.campaign_request(org=org, requested_by=None, name="No tags", type="content")
    login(client, members, Role.VIEWER)
    body = client.get(reverse("execution_campaign", args=[org.slug, campaign.pk])).content.decode()
    assert "No UTM campaign value yet" in body
    assert "Move it on" not in body  # a viewer sees no workflow buttons


def _make_launched(org, name, requested, live, due):
    return Campaign.objects.create(
        organization=org,
        name=name,
        type="event",
        status="live",
        requested_at=requested,
        live_at=live,
        due_date=due,
        utm_campaign=name.lower(),
    )


def test_list_header_and_csv_carry_the_same_measures(org, owner_client):
    d = datetime.date
    _make_launched(
        org,
        "Early",
        datetime.datetime(2026, 3, 1, 12, tzinfo=UTC),
        datetime.datetime(2026, 3, 4, 12, tzinfo=UTC),
        d(2026, 3, 5),
    )
    _make_launched(
        org,
        "Late",
        datetime.datetime(2026, 3, 1, 12, tzinfo=UTC),
        datetime.datetime(2026, 3, 10, 12, tzinfo=UTC),
        d(2026, 3, 8),
    )
    url = reverse("execution_campaigns", args=[org.slug])
    body = owner_client.get(url).content.decode()
    assert "6.0 days" in body  # (3 + 9) / 2
    assert "50.0%" in body  # 1 of 2 on time
    response = owner_client.get(url, {"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {(r["name"], r["cycle_days"], r["on_time"]) for r in rows} == {
        ("Early", "3", "true"),
        ("Late", "9", "false"),
    }
    filtered = owner_client.get(url, {"status": "requested"}).content.decode()
    assert "No campaign matches these filters" in filtered


def test_list_filters(org, owner_client, members):
    a = services.campaign_request(org=org, requested_by=members[Role.MARKETER], name="Alpha", type="webinar")
    services.campaign_request(org=org, requested_by=members[Role.VIEWER], name="Beta", type="event")
    url = reverse("execution_campaigns", args=[org.slug])
    body = owner_client.get(url, {"type": "webinar"}).content.decode()
    assert "Alpha" in body and "Beta" not in body
    body = owner_client.get(url, {"owner": a.owner_id}).content.decode()
    assert "Alpha" in body and "Beta" not in body


def test_list_empty_state(org, owner_client):
    body = owner_client.get(reverse("execution_campaigns", args=[org.slug])).content.decode()
    assert "No campaigns yet" in body and "Request a campaign" in body


def test_any_member_can_file_a_request(org, members, client):
    login(client, members, Role.VIEWER)
    response = client.post(
        reverse("execution_campaign_new", args=[org.slug]),
        {"name": "Partner webinar", "type": "partner", "brief": "With Acme Partners"},
    )
    campaign = Campaign.objects.get(organization=org, name="Partner webinar")
    assert response.status_code == 302 and campaign.requested_by == members[Role.VIEWER]
    response = client.post(
        reverse("execution_campaign_new", args=[org.slug]), {"name": "", "type": "partner"}
    )
    assert response.status_code == 400


def test_only_operations_moves_campaigns(org, members, client, campaign):
    url = reverse("execution_campaign_move", args=[org.slug, campaign.pk])
    body = {"to_status": "triaged", "ops_owner": members[Role.REVOPS_LEAD].pk, "due_date": "2026-04-01"}
    login(client, members, Role.MARKETER)
    assert client.post(url, body).status_code == 403
    login(client, members, Role.REVOPS_LEAD)
    assert client.post(url, body).status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == "triaged" and campaign.due_date == datetime.date(2026, 4, 1)
    # An illegal move is refused with a message, nothing changes.
    response = client.post(url, {"to_status": "live"}, follow=True)
    assert "cannot go from triaged to live" in response.content.decode()
    assert CampaignTransition.objects.filter(campaign=campaign).count() == 2


def test_marketers_edit_details_viewers_do_not(org, members, client, campaign):
    url = reverse("execution_campaign_edit", args=[org.slug, campaign.pk])
    login(client, members, Role.VIEWER)
    assert client.get(url).status_code == 403
    login(client, members, Role.MARKETER)
    assert client.get(url).status_code == 200
    response = client.post(
        url, {"name": "Renamed", "type": "webinar", "utm_campaign": VALUE, "expected_audience": "not json"}
    )
    assert response.status_code == 400 and "Not valid JSON" in response.content.decode()
    client.post(url, {"name": "Renamed", "type": "webinar", "utm_campaign": VALUE})
    campaign.refresh_from_db()
    assert campaign.name == "Renamed"


def test_qa_run_and_tick_from_the_page(org, members, client, campaign):
    login(client, members, Role.REVOPS_LEAD)
    client.post(reverse("execution_campaign_qa", args=[org.slug, campaign.pk]))
    body = client.get(reverse("execution_campaign", args=[org.slug, campaign.pk])).content.decode()
    assert "No active or draft journey follows this campaign up." in body
    from apps.execution.models import QaCheck

    manual = QaCheck.objects.get(organization=org, kind="manual")
    client.post(
        reverse("execution_campaign_qa_tick", args=[org.slug, campaign.pk]),
        {"check": manual.pk, "passed": "1"},
    )
    assert campaign.qa_results.get(item=manual).passed


def test_checklist_page(org, members, client):
    url = reverse("execution_qa_checklist", args=[org.slug])
    login(client, members, Role.MARKETER)
    assert client.get(url).status_code == 403
    login(client, members, Role.REVOPS_LEAD)
    assert "Routing covers the expected audience" in client.get(url).content.decode()
    assert (
        client.post(url, {"kind": "manual", "label": "Legal signed off", "required": "on"}).status_code == 302
    )
    from apps.execution.models import QaCheck

    check = QaCheck.objects.get(organization=org, label="Legal signed off")
    client.post(reverse("execution_qa_check", args=[org.slug, check.pk]), {"label": "Legal", "active": "on"})
    check.refresh_from_db()
    assert (check.label, check.required, check.active) == ("Legal", False, True)


def test_calendar_page(org, owner_client):
    Campaign.objects.create(
        organization=org, name="Summit booth", type="event", start_date=datetime.date(2026, 5, 12)
    )
    url = reverse("execution_campaigns_calendar", args=[org.slug])
    body = owner_client.get(url, {"month": "2026-05"}).content.decode()
    assert "May 2026" in body and "Summit booth" in body and "?month=2026-04" in body
    assert owner_client.get(url, {"month": "garbage"}).status_code == 200


# API -----------------------------------------------------------------------------------------------


def test_api_crud_transition_and_qa(api, org, members):
    ops = members[Role.REVOPS_LEAD]
    response = api.post(
        reverse("api-campaign-list"),
        {"name": "API webinar", "type": "webinar", "utm_campaign": "2026-q2-api"},
        format="json",
    )
    assert response.status_code == 201, response.content
    pk = response.json()["id"]
    assert response.json()["allowed_moves"] == ["triaged", "cancelled"]
    detail = reverse("api-campaign-detail", args=[pk])
    assert api.patch(detail, {"brief": "Why"}, format="json").json()["brief"] == "Why"
    bad = api.patch(detail, {"type": "billboard"}, format="json")
    assert bad.status_code == 400 and "type" in bad.json()["error"]["fields"]
    move = reverse("api-campaign-transition", args=[pk])
    bad = api.post(move, {"to_status": "live"}, format="json")
    assert bad.status_code == 400 and "to_status" in bad.json()["error"]["fields"]
    ok = api.post(
        move, {"to_status": "triaged", "ops_owner": ops.pk, "due_date": "2026-06-01"}, format="json"
    )
    assert ok.status_code == 200 and ok.json()["status"] == "triaged"
    api.post(move, {"to_status": "in_build"}, format="json")
    api.post(move, {"to_status": "in_qa"}, format="json")
    qa = api.get(reverse("api-campaign-qa", args=[pk])).json()
    assert [row["kind"] for row in qa][:2] == ["utm_valid", "journey_attached"]
    blocked = api.post(move, {"to_status": "approved"}, format="json")
    assert blocked.status_code == 400 and "override_reason" in blocked.json()["error"]["fields"]
    manual = next(row["check"] for row in qa if row["kind"] == "manual")
    ticked = api.post(
        reverse("api-campaign-qa", args=[pk]), {"check": manual, "passed": True}, format="json"
    ).json()
    assert next(row for row in ticked if row["kind"] == "manual")["passed"] is True
    approved = api.post(move, {"to_status": "approved", "override_reason": "Accepted"}, format="json")
    assert approved.json()["status"] == "approved"
    assert api.delete(detail).status_code == 400  # past triage: cancel instead
    listed = api.get(reverse("api-campaign-list"), {"status": "approved"}).json()["results"]
    assert [c["id"] for c in listed] == [pk] and listed[0]["results"] is None
    assert api.get(reverse("api-campaign-list"), {"colour": "red"}).status_code == 400


def test_api_delete_a_request(api, org):
    campaign = services.campaign_request(org=org, requested_by=None, name="Oops", type="content")
    assert api.delete(reverse("api-campaign-detail", args=[campaign.pk])).status_code == 204
    assert not Campaign.objects.filter(pk=campaign.pk).exists()


def test_api_transition_has_no_member_actor(api, org, members, campaign):
    api.post(
        reverse("api-campaign-transition", args=[campaign.pk]),
        {"to_status": "cancelled", "note": "Dropped"},
        format="json",
    )
    last = CampaignTransition.objects.filter(campaign=campaign).last()
    assert (last.to_status, last.actor, last.note) == ("cancelled", None, "Dropped")
    assert last.at <= timezone.now()


def _many(org, members, n, start=0):
    for i in range(start, start + n):
        services.campaign_request(
            org=org, requested_by=members[Role.MARKETER], name=f"C{i}", type="event", utm_campaign=f"c-{i}"
        )


def test_list_page_and_api_queries_do_not_grow_with_campaigns(
    org, members, owner_client, api, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url = reverse("execution_campaigns", args=[org.slug])
    _many(org, members, 2)
    owner_client.get(url)  # warm: the session, the API key's last use
    api.get(reverse("api-campaign-list"))
    with CaptureQueriesContext(connection) as few:
        owner_client.get(url)
    with CaptureQueriesContext(connection) as few_api:
        api.get(reverse("api-campaign-list"))
    _many(org, members, 8, start=2)
    with django_assert_num_queries(len(few)):
        owner_client.get(url)
    with django_assert_num_queries(len(few_api)):
        api.get(reverse("api-campaign-list"))
