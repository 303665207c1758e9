"""The UTM taxonomy at ingest through the API: problems reported, or records refused when enforced."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.execution.services import utm
from apps.records import services
from apps.records.models import Lead, Touchpoint

pytestmark = pytest.mark.django_db

RULE = "year-quarter-name, like 2026-q3-webinar"
CASE = {"field": "utm_source", "code": "case", "message": "The source “Google” is not lower case."}
SOURCE = {"field": "utm_source", "code": "not_allowed", "message": "“Google” is not an allowed source."}
PATTERN = {
    "field": "utm_campaign",
    "code": "pattern",
    "message": f"“spring” does not follow the naming rule: {RULE}.",
}
BROKEN = {"utm_source": "Google", "utm_medium": "cpc", "utm_campaign": "spring"}
CLEAN = {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "2026-q1-brand"}


def save_taxonomy(org, *, enforce: bool):
    return utm.taxonomy_update(
        org=org,
        allowed_sources=["google", "linkedin"],
        allowed_mediums=["cpc", "email"],
        campaign_pattern=r"\d{4}-q[1-4]-[a-z0-9-]+",
        campaign_pattern_help=RULE,
        enforce_at_ingest=enforce,
    )


@pytest.fixture
def lead(org):
    return services.lead_create(org=org, email="ann@acme.test")


def taxonomy_reads(queries) -> int:
    return sum('"execution_utmtaxonomy"' in q["sql"] for q in queries.captured_queries)


# Not enforced: stored, and the answer says what is wrong --------------------------------------


def test_a_touchpoint_breaking_the_convention_is_stored_with_its_problems(api, org, lead):
    save_taxonomy(org, enforce=False)
    response = api.post("/api/v1/touchpoints/", {"lead": lead.pk, **BROKEN}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["utm_problems"] == [CASE, SOURCE, PATTERN]
    assert Touchpoint.objects.for_org(org).get().utm_source == "Google"

    clean = api.post("/api/v1/touchpoints/", {"lead": lead.pk, **CLEAN}, format="json")
    assert clean.status_code == 201 and clean.json()["utm_problems"] == []


def test_a_lead_reports_half_tagged_values_but_not_untagged_ones(api, org):
    save_taxonomy(org, enforce=False)
    half = api.post("/api/v1/leads/", {"email": "half@acme.test", "utm_source": "google"}, format="json")
    assert half.status_code == 201, half.content
    assert half.json()["utm_problems"] == [
        {"field": "utm_medium", "code": "missing", "message": "No medium given."},
        {"field": "utm_campaign", "code": "missing", "message": "No campaign given."},
    ]
    typed_in = api.post("/api/v1/leads/", {"email": "typed@acme.test", "first_name": "Tim"}, format="json")
    assert typed_in.status_code == 201 and typed_in.json()["utm_problems"] == []


def test_without_a_saved_taxonomy_only_lower_case_is_asked_for(api, org, lead):
    response = api.post("/api/v1/touchpoints/", {"lead": lead.pk, **BROKEN}, format="json")
    assert response.status_code == 201
    assert response.json()["utm_problems"] == [CASE]


def test_the_violations_page_keeps_listing_what_was_stored(api, owner_client, org, lead):
    save_taxonomy(org, enforce=False)
    api.post("/api/v1/touchpoints/", {"lead": lead.pk, **BROKEN}, format="json")
    body = owner_client.get(reverse("execution_utm_violations", args=[org.slug])).content.decode()
    assert "1 of 1 tagged touchpoint break at least one rule" in body
    assert SOURCE["message"] in body


# Enforced: refused, naming the field and why --------------------------------------------------


def test_an_enforced_taxonomy_refuses_a_touchpoint_naming_each_field(api, org, lead):
    save_taxonomy(org, enforce=True)
    response = api.post("/api/v1/touchpoints/", {"lead": lead.pk, **BROKEN}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "utm_convention",
            "message": CASE["message"],
            "fields": {
                "utm_source": [CASE["message"], SOURCE["message"]],
                "utm_campaign": [PATTERN["message"]],
            },
        }
    }
    assert not Touchpoint.objects.for_org(org).exists()
    clean = api.post("/api/v1/touchpoints/", {"lead": lead.pk, **CLEAN}, format="json")
    assert clean.status_code == 201 and clean.json()["utm_problems"] == []


def test_an_enforced_taxonomy_refuses_a_lead_but_lets_an_untagged_one_in(api, org):
    save_taxonomy(org, enforce=True)
    response = api.post(
        "/api/v1/leads/", {"email": "x@acme.test", "utm_source": "google", "utm_medium": "cpc"}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["message"]) == ("utm_convention", "No campaign given.")
    assert error["fields"] == {"utm_campaign": ["No campaign given."]}
    assert not Lead.objects.for_org(org).exists()
    typed_in = api.post("/api/v1/leads/", {"email": "typed@acme.test"}, format="json")
    assert typed_in.status_code == 201 and typed_in.json()["utm_problems"] == []


def test_bulk_items_are_judged_one_by_one_with_the_taxonomy_read_once(api, org, lead):
    save_taxonomy(org, enforce=True)
    items = [
        {"external_id": "t-1", "lead": lead.pk, **CLEAN},
        {"external_id": "t-2", "lead": lead.pk, **BROKEN},
        {"external_id": "t-3", "lead": lead.pk, "type": "visit"},
    ]
    with CaptureQueriesContext(connection) as queries:
        response = api.post("/api/v1/touchpoints/bulk/", {"items": items}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["counts"] == {"created": 2, "updated": 0, "error": 1}
    first, refused, untagged = body["results"]
    assert (first["status"], first["utm_problems"]) == ("created", [])
    assert (untagged["status"], untagged["utm_problems"]) == ("created", [])
    assert refused["error"]["code"] == "utm_convention"
    assert refused["error"]["fields"]["utm_campaign"] == [PATTERN["message"]]
    assert taxonomy_reads(queries) == 1
    assert set(Touchpoint.objects.for_org(org).values_list("external_id", flat=True)) == {"t-1", "t-3"}


def test_a_bulk_update_is_judged_on_the_values_the_record_will_carry(api, org):
    services.lead_create(org=org, email="ann@acme.test", **CLEAN)
    save_taxonomy(org, enforce=True)
    items = [{"email": "ann@acme.test", "utm_campaign": "2026-q2-webinar"}]
    body = api.post("/api/v1/leads/bulk/", {"match_on": "email", "items": items}, format="json").json()
    # Only the campaign is given: the lead's own source and medium complete it, nothing is missing.
    assert body["results"][0]["status"] == "updated" and body["results"][0]["utm_problems"] == []
    items = [{"email": "ann@acme.test", "utm_campaign": "spring"}]
    body = api.post("/api/v1/leads/bulk/", {"match_on": "email", "items": items}, format="json").json()
    assert body["results"][0]["error"]["fields"] == {"utm_campaign": [PATTERN["message"]]}
    assert Lead.objects.for_org(org).get().utm_campaign == "2026-q2-webinar"


def test_enforcing_a_taxonomy_takes_effect_at_once(api, org, lead):
    # The first request learns that no taxonomy was ever saved (and remembers it)...
    assert api.post("/api/v1/touchpoints/", {"lead": lead.pk, **BROKEN}, format="json").status_code == 201
    save_taxonomy(org, enforce=True)
    # ...and saving one makes the next request read it.
    assert api.post("/api/v1/touchpoints/", {"lead": lead.pk, **BROKEN}, format="json").status_code == 400


# Cost -------------------------------------------------------------------------------------------------


def test_no_query_for_an_organisation_that_never_saved_a_taxonomy(api, org, lead):
    with CaptureQueriesContext(connection) as first:
        api.post("/api/v1/touchpoints/", {"lead": lead.pk, **CLEAN}, format="json")
    with CaptureQueriesContext(connection) as later:
        api.post("/api/v1/touchpoints/", {"lead": lead.pk, **CLEAN}, format="json")
        api.post("/api/v1/leads/", {"email": "new@acme.test", **CLEAN}, format="json")
    assert (taxonomy_reads(first), taxonomy_reads(later)) == (1, 0)


def test_a_saved_taxonomy_is_read_once_per_request(api, org, lead):
    save_taxonomy(org, enforce=False)
    with CaptureQueriesContext(connection) as queries:
        api.post("/api/v1/touchpoints/", {"lead": lead.pk, **BROKEN}, format="json")
    assert taxonomy_reads(queries) == 1


def test_another_organisations_taxonomy_does_not_judge_this_ones_records(api, org, other_org, lead):
    save_taxonomy(other_org, enforce=True)
    response = api.post("/api/v1/touchpoints/", {"lead": lead.pk, **BROKEN}, format="json")
    assert response.status_code == 201 and response.json()["utm_problems"] == [CASE]
