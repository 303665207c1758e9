"""Campaign moves made through the API record the key that made them, and the page and the API say so."""

import datetime

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from apps.accounts.models import Membership
from apps.accounts.roles import Role
from apps.execution.models import CampaignTransition
from apps.execution.services import campaigns as services
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def keyed_api(org):
    """An API client and the key it sends, so tests know the prefix to expect."""
    key, raw = factories.make_api_key(org, name="Launch robot")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return key, client


@pytest.fixture
def ops(org):
    return factories.make_member(org, role=Role.REVOPS_LEAD)


def test_api_moves_record_the_key_and_the_page_and_api_name_it(org, owner, owner_client, keyed_api, ops):
    key, api = keyed_api
    by_key = f"API key {key.prefix}\N{HORIZONTAL ELLIPSIS}"
    body = {"name": "API webinar", "type": "webinar"}
    created = api.post(reverse("api-campaign-list"), body, format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    moved = api.post(
        reverse("api-campaign-transition", args=[pk]),
        {"to_status": "triaged", "ops_owner": ops.pk, "due_date": "2026-06-01"},
        format="json",
    )
    assert moved.status_code == 200, moved.content
    assert [(h["to_status"], h["by"]) for h in moved.json()["history"]] == [
        ("requested", by_key),
        ("triaged", by_key),
    ]
    # A person's move, from the page, records the person and no key.
    owner_client.post(reverse("execution_campaign_move", args=[org.slug, pk]), {"to_status": "in_build"})
    admin = Membership.objects.get(organization=org, user=owner)
    rows = CampaignTransition.objects.filter(campaign_id=pk)
    rows = rows.values_list("to_status", "actor", "api_key_prefix")
    assert list(rows) == [
        ("requested", None, key.prefix),
        ("triaged", None, key.prefix),
        ("in_build", admin.pk, ""),
    ]
    history = api.get(reverse("api-campaign-detail", args=[pk])).json()["history"]
    assert [(h["to_status"], h["actor"], h["api_key"], h["by"]) for h in history] == [
        ("requested", None, key.prefix, by_key),
        ("triaged", None, key.prefix, by_key),
        ("in_build", admin.pk, "", owner.display_name),
    ]
    page = owner_client.get(reverse("execution_campaign", args=[org.slug, pk])).content.decode()
    timeline = page.split('id="history"')[1]
    assert timeline.count(f"· {by_key}") == 2 and f"· {owner.display_name}" in timeline
    assert "API or system" not in timeline
    # The list carries no history, as it carries no results: one query for the page of campaigns.
    assert api.get(reverse("api-campaign-list")).json()["results"][0]["history"] is None


def test_an_api_override_of_qa_still_needs_its_reason_and_records_the_key(org, keyed_api, ops):
    key, api = keyed_api
    # Filed by the system (no member, no key): the history says so as it always has.
    campaign = services.campaign_request(org=org, requested_by=None, name="Webinar", type="webinar")
    move = reverse("api-campaign-transition", args=[campaign.pk])
    steps = [("triaged", {"ops_owner": ops.pk, "due_date": "2026-06-01"}), ("in_build", {}), ("in_qa", {})]
    for status, extra in steps:
        assert api.post(move, {"to_status": status, **extra}, format="json").status_code == 200
    # No UTM values, journey, routing, budget or KPI: required checks fail, so approving needs a reason.
    for body in ({"to_status": "approved"}, {"to_status": "approved", "override_reason": "  "}):
        blocked = api.post(move, body, format="json")
        assert blocked.status_code == 400
        assert blocked.json()["error"]["code"] == "qa_failed"
        assert list(blocked.json()["error"]["fields"]) == ["override_reason"]
    campaign.refresh_from_db()
    assert campaign.status == "in_qa"
    approved = api.post(move, {"to_status": "approved", "override_reason": "Ships as is"}, format="json")
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    last = CampaignTransition.objects.filter(campaign=campaign).last()
    assert (last.to_status, last.actor, last.api_key_prefix) == ("approved", None, key.prefix)
    assert last.override_reason == "Ships as is" and last.failed_checks
    history = approved.json()["history"]
    assert history[0]["by"] == "API or system"
    assert history[-1]["override_reason"] == "Ships as is"
    assert history[-1]["by"] == f"API key {key.prefix}\N{HORIZONTAL ELLIPSIS}"
    assert history[-1]["failed_checks"] == last.failed_checks
    assert last.at <= datetime.datetime.now(datetime.UTC)
