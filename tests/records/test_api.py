"""The records API: filters, sparse output, bulk upsert, stage moves and Idempotency-Key."""

import threading

import pytest
from django.db import connection

from apps.records import services
from apps.records.models import Lead, StageEvent
from tests.conftest import api_client_for

pytestmark = pytest.mark.django_db


def test_create_and_read_a_lead(api, org):
    response = api.post(
        "/api/v1/leads/",
        {
            "email": "Ann@Acme.test",
            "first_name": "Ann",
            "country": "fr",
            "captured_at": "2026-03-01T10:00:00Z",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "ann@acme.test" and body["country"] == "FR" and body["stage"] == "inquiry"
    assert body["captured_at"] == "2026-03-01T10:00:00Z"
    assert api.get(f"/api/v1/leads/{body['id']}/").json()["email"] == "ann@acme.test"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@b.test", "country": "France"}, "country"),
        ({"email": "a@b.test", "score": "high"}, "score"),
        ({"email": "a@b.test", "stage": "nirvana"}, "stage"),
        ({"email": "a@b.test", "owner": 999999}, "owner"),
        ({"email": "a@b.test", "captured_at": "yesterday"}, "captured_at"),
        ({"email": "a@b.test", "custom": {"nope": 1}}, "custom.nope"),
    ],
)
def test_bad_lead_input_names_the_field(api, org, payload, field):
    response = api.post("/api/v1/leads/", payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"], response.json()
    assert not Lead.objects.for_org(org).exists()


def test_filters_and_sparse_fields(api, org):
    services.lead_create(org=org, email="a@acme.test", country="FR", source="webinar")
    b = services.lead_create(org=org, email="b@acme.test", country="DE", source="webinar")
    services.lead_change_stage(org=org, lead=b, to="mql")
    body = api.get("/api/v1/leads/?country=de&fields=id,email,stage").json()
    assert body["results"] == [{"id": b.pk, "email": "b@acme.test", "stage": "mql"}]
    assert len(api.get("/api/v1/leads/?source=WEBINAR").json()["results"]) == 2
    assert api.get("/api/v1/leads/?stage=mql").json()["results"][0]["id"] == b.pk
    assert api.get("/api/v1/leads/?captured_after=not-a-date").status_code == 400


def test_stage_transition_and_history(api, org):
    lead = services.lead_create(org=org, email="a@b.test")
    response = api.post(
        f"/api/v1/leads/{lead.pk}/stage/", {"stage": "sal", "reason": "Rep accepted"}, format="json"
    )
    assert response.status_code == 201
    history = api.get(f"/api/v1/leads/{lead.pk}/history/").json()
    assert [(e["from_stage"], e["to_stage"]) for e in history] == [("", "inquiry"), ("inquiry", "sal")]
    assert history[1]["reason"] == "Rep accepted" and history[1]["origin"] == "api"
    same = api.post(f"/api/v1/leads/{lead.pk}/stage/", {"stage": "sal"}, format="json")
    assert same.status_code == 400 and same.json()["error"]["code"] == "same_stage"


def test_bulk_upsert_reports_each_item(api, org):
    services.lead_create(org=org, email="known@acme.test", first_name="Known")
    items = [
        {"email": "known@acme.test", "title": "CFO"},
        {"email": "new@acme.test", "first_name": "New"},
        {"email": "broken"},
        {"email": "x@acme.test", "colour": "red"},
    ]
    response = api.post("/api/v1/leads/bulk/", {"match_on": "email", "items": items}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["counts"] == {"created": 1, "updated": 1, "error": 2}
    statuses = [r["status"] for r in body["results"]]
    assert statuses == ["updated", "created", "error", "error"]
    assert "email" in body["results"][2]["error"]["fields"]
    assert "colour" in body["results"][3]["error"]["fields"]
    assert Lead.objects.for_org(org).get(email="known@acme.test").title == "CFO"
    assert Lead.objects.for_org(org).count() == 2


def test_bulk_limits(api):
    too_many = [{"email": f"{n}@x.test"} for n in range(1001)]
    response = api.post("/api/v1/leads/bulk/", {"items": too_many}, format="json")
    assert response.status_code == 400 and "items" in response.json()["error"]["fields"]
    bad_key = api.post("/api/v1/leads/bulk/", {"items": [{}], "match_on": "domain"}, format="json")
    assert bad_key.status_code == 400 and "match_on" in bad_key.json()["error"]["fields"]


def test_accounts_bulk_by_domain(api, org):
    items = [
        {"name": "Acme", "domain": "https://acme.test"},
        {"name": "Acme Corp", "domain": "www.ACME.test"},
    ]
    body = api.post("/api/v1/accounts/bulk/", {"match_on": "domain", "items": items}, format="json").json()
    assert [r["status"] for r in body["results"]] == ["created", "updated"]


def test_touchpoints_find_their_lead_by_email(api, org):
    lead = services.lead_create(org=org, email="a@b.test")
    response = api.post("/api/v1/touchpoints/", {"email": "A@b.test", "utm_source": "google"}, format="json")
    assert response.status_code == 201 and response.json()["lead"] == lead.pk
    missing = api.post("/api/v1/touchpoints/", {"email": "nobody@b.test"}, format="json")
    assert missing.status_code == 400 and "email" in missing.json()["error"]["fields"]


def test_opportunities_and_customers(api, org):
    account = services.account_create(org=org, name="Acme", domain="acme.test")
    opp = api.post(
        "/api/v1/opportunities/",
        {"name": "Acme deal", "account": account.pk, "amount": "12000.50"},
        format="json",
    )
    assert opp.status_code == 201 and opp.json()["amount"] == "12000.50"
    won = api.patch(f"/api/v1/opportunities/{opp.json()['id']}/", {"status": "won"}, format="json")
    assert won.json()["status"] == "won" and won.json()["close_date"]
    customer = api.post(
        "/api/v1/customers/",
        {"account": account.pk, "arr": "24000", "start_date": "2026-01-01"},
        format="json",
    )
    assert customer.status_code == 201


def test_lead_list_query_count_is_flat(api, org, django_assert_max_num_queries):
    for n in range(40):
        services.lead_create(org=org, email=f"{n}@acme.test")
    with django_assert_max_num_queries(6):
        response = api.get("/api/v1/leads/?page_size=50")
    assert len(response.json()["results"]) == 40


# --- Idempotency-Key -----------------------------------------------------------


def _post(client, body, key):
    return client.post("/api/v1/leads/", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_a_repeat_returns_the_first_response_byte_for_byte_and_creates_nothing(api, org):
    first = _post(api, {"email": "a@b.test"}, "key-1")
    again = _post(api, {"email": "a@b.test"}, "key-1")
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert Lead.objects.for_org(org).count() == 1
    assert StageEvent.objects.for_org(org).count() == 1


def test_the_same_key_with_another_body_is_refused(api, org):
    _post(api, {"email": "a@b.test"}, "key-1")
    response = _post(api, {"email": "other@b.test"}, "key-1")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert Lead.objects.for_org(org).count() == 1


def test_keys_belong_to_their_api_key(org):
    one, two = api_client_for(org), api_client_for(org)
    _post(one, {"email": "a@b.test"}, "shared")
    response = _post(two, {"email": "a@b.test"}, "shared")
    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert Lead.objects.for_org(org).count() == 2


def test_a_failed_request_stores_nothing(api, org):
    assert _post(api, {"email": "broken"}, "key-1").status_code == 400
    assert _post(api, {"email": "fixed@b.test"}, "key-1").status_code == 201


def test_keys_expire_after_a_day(api, org):
    from datetime import timedelta

    from django.utils import timezone

    from apps.core.models import IdempotencyRecord

    _post(api, {"email": "a@b.test"}, "key-1")
    IdempotencyRecord.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = _post(api, {"email": "a@b.test"}, "key-1")
    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert Lead.objects.for_org(org).count() == 2


def test_bad_keys(api):
    assert _post(api, {"email": "a@b.test"}, "x" * 256).status_code == 400


@pytest.mark.django_db(transaction=True)
def test_a_repeat_while_the_first_is_running_gets_409(monkeypatch):
    from tests import factories

    org = factories.make_org(slug="idem")
    api_one, raw = None, None
    _, raw = factories.make_api_key(org)
    started, release = threading.Event(), threading.Event()
    real_create = services.lead_create

    def slow_create(**kwargs):
        started.set()
        release.wait(10)
        return real_create(**kwargs)

    monkeypatch.setattr("apps.records.api.views.services.lead_create", slow_create)
    from rest_framework.test import APIClient

    results = {}

    def first_request():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        results["first"] = _post(client, {"email": "a@b.test"}, "race")
        connection.close()

    thread = threading.Thread(target=first_request)
    thread.start()
    assert started.wait(10)
    api_one = APIClient()
    api_one.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    concurrent = _post(api_one, {"email": "a@b.test"}, "race")
    release.set()
    thread.join(10)
    assert concurrent.status_code == 409
    assert concurrent.json()["error"]["code"] == "idempotency_key_in_progress"
    assert results["first"].status_code == 201
    replay = _post(api_one, {"email": "a@b.test"}, "race")
    assert replay.status_code == 201 and replay.content == results["first"].content
    assert Lead.objects.filter(organization=org).count() == 1


def test_hand_built_lead_output_equals_drf_rendering(org):
    from rest_framework import serializers as drf

    from apps.records.api.serializers import LeadOutput

    services.lead_create(org=org, email="a@b.test", first_name="Ann", country="FR", custom={})
    lead = Lead.objects.select_related("stage").get(email="a@b.test")
    fast = LeadOutput(lead).data
    reference = drf.Serializer.to_representation(LeadOutput(lead), lead)
    assert dict(fast) == dict(reference)


def test_cursor_pages_walk_rows_that_share_a_timestamp(api, org):
    from django.utils import timezone

    lead = services.lead_create(org=org, email="seed@b.test")
    base = {f.attname: getattr(lead, f.attname) for f in Lead._meta.concrete_fields if f.attname != "id"}
    Lead.objects.bulk_create(
        [Lead(**{**base, "email": f"{n}@b.test", "external_id": None}) for n in range(1204)]
    )
    same_moment = timezone.now()
    Lead.objects.for_org(org).update(created_at=same_moment)  # an import: 1,205 rows, one timestamp
    seen, url = [], "/api/v1/leads/?page_size=500&fields=id"
    while url:
        body = api.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert len(seen) == len(set(seen)) == 1205
    assert seen == sorted(seen, reverse=True)
    # And back again from the last page.
    last_page = api.get("/api/v1/leads/?page_size=500&fields=id").json()
    second = api.get(last_page["next"]).json()
    back = api.get(second["previous"]).json()
    assert [r["id"] for r in back["results"]] == seen[:500]


def test_a_tampered_cursor_is_404_not_500(api, org):
    response = api.get("/api/v1/leads/?cursor=bm9wZQ==")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
