"""The segment pages, the API and the CSV export: the same numbers everywhere, and who may edit.

Comparison fixture: segment "France" (country is FR, 1 point, threshold 1).

    lead  country  stages (2026, first event = creation)                    days to opportunity
    m1    FR       inquiry Jan 1, mql Jan 5, sql Jan 10, opportunity Jan 11,  10
                   customer Feb 1
    m2    FR       inquiry Jan 1, mql Jan 3, opportunity Jan 21 (skips sql)   20
    m3    FR       inquiry Jan 1
    n1    US       inquiry Jan 1, mql Jan 2
    n2    US       inquiry Jan 1
    gone  FR       merged into m3: left out of both groups

Members: 3 leads; reached MQL 2 (66.7 %), SQL 1 (33.3 %), Opportunity 2 (66.7 %),
Won 1 (33.3 %); median days to opportunity (10 + 20) / 2 = 15.0.
Everyone else: 2 leads; MQL 1 (50.0 %), SQL 0 (0.0 %), Opportunity 0, Won 0; median none.
"""

import csv
import io
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from apps.accounts.roles import Role
from apps.records import services as records
from apps.records.models import Lead
from apps.strategy.models import Segment, SegmentMembership
from apps.strategy.segments import comparison, tasks
from apps.strategy.services import segments as services
from tests import factories

pytestmark = pytest.mark.django_db

FRANCE_RULES = [
    {"name": "In France", "conditions": [{"field": "country", "op": "equals", "value": "FR"}], "points": 1}
]


def day(month, d):
    return datetime(2026, month, d, 9, tzinfo=UTC)


@pytest.fixture
def france(org):
    path = {
        "m1": (
            "FR",
            [("mql", day(1, 5)), ("sql", day(1, 10)), ("opportunity", day(1, 11)), ("customer", day(2, 1))],
        ),
        "m2": ("FR", [("mql", day(1, 3)), ("opportunity", day(1, 21))]),
        "m3": ("FR", []),
        "n1": ("US", [("mql", day(1, 2))]),
        "n2": ("US", []),
        "gone": ("FR", [("mql", day(1, 2))]),
    }
    leads = {}
    for name, (country, moves) in path.items():
        lead = records.lead_create(
            org=org, email=f"{name}@example.test", first_name=name, country=country, captured_at=day(1, 1)
        )
        for stage, at in moves:
            records.lead_change_stage(org=org, lead=lead, to=stage, at=at)
        leads[name] = lead
    Lead.objects.filter(pk=leads["gone"].pk).update(merged_into=leads["m3"])
    segment = services.segment_create(org=org, key="france", name="France", rules=FRANCE_RULES)
    return {"segment": segment, "leads": leads}


def test_the_comparison_against_hand_computed_numbers(org, france):
    result = comparison.compare(org=org, segment=france["segment"])
    assert result.members == comparison.Group(3, 2, 1, 2, 1, 15.0)
    assert result.others == comparison.Group(2, 1, 0, 0, 0, None)
    assert result.members.as_dict()["rates"] == {
        "mql": 66.7,
        "sql": 33.3,
        "opportunity": 66.7,
        "customer": 33.3,
    }
    assert result.others.as_dict()["rates"] == {"mql": 50.0, "sql": 0.0, "opportunity": 0.0, "customer": 0.0}


def test_an_account_segment_counts_the_leads_of_its_member_accounts(org):
    big = records.account_create(org=org, name="Big", domain="big.test", employees=900)
    records.account_create(org=org, name="Small", domain="small.test", employees=9)
    records.lead_create(org=org, email="a@big.test")
    records.lead_create(org=org, email="b@big.test")
    records.lead_create(org=org, email="c@small.test")
    records.lead_create(org=org, email="d@nowhere.test")
    segment = services.segment_create(
        org=org, key="big", name="Big", object_type="account",
        rules=[{"name": "Big", "points": 1, "conditions": [{"field": "employees", "op": "gt", "value": 99}]}],
    )  # fmt: skip
    assert list(SegmentMembership.objects.filter(segment=segment).values_list("account_id", flat=True)) == [
        big.pk
    ]
    result = comparison.compare(org=org, segment=segment)
    assert (result.members.leads, result.others.leads) == (2, 2)


def test_the_page_shows_rules_size_comparison_and_members(owner_client, org, france):
    segment = france["segment"]
    page = owner_client.get(reverse("strategy_segment", args=["acme", segment.pk])).content.decode()
    assert "country is FR" in page
    assert "<dt>Members</dt><dd>3</dd>" in page
    for text in ("66.7 %", "33.3 %", "50.0 %", "15.0"):
        assert text in page
    leads = france["leads"]
    for name in ("m1", "m2", "m3"):
        assert reverse("records_lead", args=["acme", leads[name].pk]) in page
    for name in ("n1", "gone"):
        assert reverse("records_lead", args=["acme", leads[name].pk]) not in page


def test_the_list_puts_the_icp_first_and_says_how_to_start(owner_client, org, france):
    empty = owner_client.get(reverse("strategy_segments", args=["acme"])).content.decode()
    assert "France" in empty
    services.segment_delete(org=org, segment=france["segment"])
    empty = owner_client.get(reverse("strategy_segments", args=["acme"])).content.decode()
    assert "Define your ICP" in empty

    services.segment_create(org=org, key="a", name="Alpha", rules=FRANCE_RULES)
    services.segment_create(org=org, key="icp", name="Zulu ICP", is_icp=True, rules=FRANCE_RULES)
    listing = owner_client.get(reverse("strategy_segments", args=["acme"])).content.decode()
    assert listing.index("Zulu ICP") < listing.index("Alpha")


def test_the_csv_and_the_api_give_the_same_members_and_numbers(owner_client, api, org, france):
    segment = france["segment"]
    response = owner_client.get(reverse("strategy_segment_export", args=["acme", segment.pk]))
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    leads = france["leads"]
    assert {(int(r["id"]), r["email"], r["score"]) for r in rows} == {
        (leads[name].pk, f"{name}@example.test", "1") for name in ("m1", "m2", "m3")
    }

    members = api.get(f"/api/v1/segments/{segment.pk}/members/").json()
    assert {m["lead"] for m in members["results"]} == {leads[name].pk for name in ("m1", "m2", "m3")}
    numbers = api.get(f"/api/v1/segments/{segment.pk}/comparison/").json()
    assert numbers == comparison.compare(org=org, segment=segment).as_dict()
    assert numbers["members"]["median_days_to_opportunity"] == 15.0


def test_the_members_endpoint_is_cursor_paginated(api, org, france):
    segment = france["segment"]
    first = api.get(f"/api/v1/segments/{segment.pk}/members/?page_size=2").json()
    assert len(first["results"]) == 2 and first["next"]
    second = api.get(first["next"]).json()
    assert len(second["results"]) == 1 and second["next"] is None


def test_the_api_creates_validates_and_recomputes(api, org, france):
    shoe = {"name": "B", "points": 1, "conditions": [{"field": "shoe", "op": "equals", "value": 1}]}
    bad = {"key": "x", "name": "X", "rules": [FRANCE_RULES[0], shoe]}
    response = api.post("/api/v1/segments/", bad, format="json")
    assert response.status_code == 400
    assert "rules[1].conditions[0].field" in response.content.decode()

    good = {"key": "icp", "name": "ICP", "is_icp": True, "threshold": 1, "rules": FRANCE_RULES}
    created = api.post("/api/v1/segments/", good, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["member_count"], body["recompute_pending"], body["is_icp"]) == (0, True, True)
    tasks.segment_recompute(body["id"])  # queued on commit for a worker
    fetched = api.get(f"/api/v1/segments/{body['id']}/").json()
    assert (fetched["member_count"], fetched["recompute_pending"]) == (3, False)
    listed = api.get("/api/v1/segments/").json()["results"]
    assert {s["key"] for s in listed} == {"france", "icp"}

    patched = api.patch(f"/api/v1/segments/{body['id']}/", {"threshold": 2}, format="json")
    assert patched.json()["recompute_pending"]
    tasks.segment_recompute(body["id"])
    assert api.get(f"/api/v1/segments/{body['id']}/").json()["member_count"] == 0
    assert api.delete(f"/api/v1/segments/{created.json()['id']}/").status_code == 204


def test_the_rule_builder_creates_a_segment(owner_client, org, france):
    data = {
        "name": "Germany", "key": "germany", "threshold": "5", "description": "", "owner": "",
        "rule0-name": "In Germany", "rule0-points": "5",
        "rule0-cond-TOTAL_FORMS": "1", "rule0-cond-INITIAL_FORMS": "0",
        "rule0-cond-0-field": "country", "rule0-cond-0-op": "in", "rule0-cond-0-value": "DE, AT",
    }  # fmt: skip
    response = owner_client.post(reverse("strategy_segment_new", args=["acme"]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    segment = Segment.objects.get(organization=org, key="germany")
    assert segment.rules == [
        {
            "name": "In Germany",
            "points": 5,
            "conditions": [{"field": "country", "op": "in", "value": ["DE", "AT"]}],
        }
    ]

    data["rule0-cond-0-field"] = "account.shoe"
    data["key"] = "other"
    response = owner_client.post(reverse("strategy_segment_new", args=["acme"]), data)
    assert response.status_code == 400


def test_recompute_now_runs_in_a_worker_and_the_page_follows_it(
    owner_client, org, france, django_capture_on_commit_callbacks
):
    segment = france["segment"]
    SegmentMembership.objects.all().delete()
    with django_capture_on_commit_callbacks() as queued:
        response = owner_client.post(reverse("strategy_segment_recompute", args=["acme", segment.pk]))
    assert response.status_code == 302 and len(queued) == 1
    segment.refresh_from_db()
    assert segment.recompute_pending
    page = owner_client.get(reverse("strategy_segment", args=["acme", segment.pk])).content.decode()
    assert "Recomputing every membership in the background" in page
    status = reverse("strategy_segment_recompute_status", args=["acme", segment.pk])
    assert "<progress" in owner_client.get(status).content.decode()
    assert not SegmentMembership.objects.filter(segment=segment).exists()

    assert tasks.segment_recompute(segment.pk) == 3  # what the queued task runs in the worker
    assert SegmentMembership.objects.filter(segment=segment).count() == 3
    done = owner_client.get(status)
    assert done.headers["HX-Refresh"] == "true"
    page = owner_client.get(reverse("strategy_segment", args=["acme", segment.pk])).content.decode()
    assert "Recomputing every membership" not in page


def test_recompute_now_and_delete(owner_client, org, france):
    segment = france["segment"]
    response = owner_client.post(reverse("strategy_segment_recompute", args=["acme", segment.pk]))
    assert response.status_code == 302
    owner_client.post(reverse("strategy_segment_delete", args=["acme", segment.pk]))
    assert not Segment.objects.filter(pk=segment.pk).exists()


def test_only_revops_leads_and_admins_edit(client, org, france):
    segment = france["segment"]
    for role in (Role.SALES_MANAGER, Role.MARKETER, Role.VIEWER):
        member = factories.make_member(org, role=role)
        client.force_login(member.user)
        assert client.get(reverse("strategy_segment", args=["acme", segment.pk])).status_code == 200
        assert client.get(reverse("strategy_segment_export", args=["acme", segment.pk])).status_code == 200
        assert client.get(reverse("strategy_segment_new", args=["acme"])).status_code == 403
        assert (
            client.post(reverse("strategy_segment_recompute", args=["acme", segment.pk])).status_code == 403
        )
        assert client.post(reverse("strategy_segment_delete", args=["acme", segment.pk])).status_code == 403
    member = factories.make_member(org, role=Role.REVOPS_LEAD)
    client.force_login(member.user)
    assert client.get(reverse("strategy_segment_edit", args=["acme", segment.pk])).status_code == 200
