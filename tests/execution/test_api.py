"""The routing API: a lead's routing history, touches, assignments, reject reasons and previews."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.execution.models import Assignment, RejectReason, RoutingRequest, SlaPolicy, SlaTimer
from apps.execution.services import routing
from apps.records import services as record_services
from apps.records.models import Lead, Touchpoint
from tests.conftest import api_client_for

from .conftest import make_rep, new_lead, pool_rule, pool_with_reps, publish_policy, route_pending
from .test_simulation import draft, snapshot, us_rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(org, owner):
    ana, bob = make_rep(org, "Ana Ruiz"), make_rep(org, "Bob Lee")
    emea = pool_with_reps(org, [ana, bob], name="EMEA SDRs")
    publish_policy(org, rules=[pool_rule(emea, "Everyone")], actor=owner)
    RejectReason.objects.for_org(org).delete()  # this module's reasons instead of the defaults
    RejectReason.objects.create(organization=org, key="not_my_territory", label="Not my territory", order=2)
    RejectReason.objects.create(organization=org, key="too_busy", label="Too busy", order=1)
    RejectReason.objects.create(
        organization=org, key="retired", label="Retired reason", order=3, is_active=False
    )
    return {"ana": ana, "bob": bob, "emea": emea}


def routed_lead(org, email="jo@acme.test", **fields):
    lead = new_lead(org, email=email, **fields)
    route_pending(lead)
    return lead


def offer_of(lead):
    return Assignment.objects.get(lead=lead, status__in=Assignment.LIVE)


# --- GET /leads/{id}/routing/ -----------------------------------------------------------------------


def test_lead_routing_explains_the_decision_the_offer_and_the_clock(api, org, team):
    SlaPolicy.objects.create(organization=org, name="Accept in 30", clock="accept", target_minutes=30)
    lead = routed_lead(org)
    offer = offer_of(lead)

    body = api.get(f"/api/v1/leads/{lead.pk}/routing/").json()

    [decision] = body["decisions"]
    assert decision["outcome"] == "assigned" and decision["trigger"] == "created"
    assert (decision["policy_version"], decision["rule_index"], decision["rule_name"]) == (1, 0, "Everyone")
    assert decision["assignee"] == {"id": team["ana"].pk, "name": "Ana Ruiz"}
    assert decision["pool"] == {"id": team["emea"].pk, "name": "EMEA SDRs"}
    assert decision["considered"] == [
        {"candidate": team["ana"].pk, "name": "Ana Ruiz", "excluded": None, "excluded_label": None,
         "pool": team["emea"].pk},
        {"candidate": team["bob"].pk, "name": "Bob Lee", "excluded": "not_its_turn",
         "excluded_label": "eligible, not their turn", "pool": team["emea"].pk},
    ]  # fmt: skip
    assert decision["trail"][-1] == 'Assigned to Ana Ruiz by rule 1 "Everyone" (round robin in "EMEA SDRs")'
    assert set(decision["timings"]) == {"queued_ms", "decide_ms"}
    [assignment] = body["assignments"]
    assert assignment["id"] == offer.pk and assignment["status"] == "offered"
    assert assignment["assignee"] == {"id": team["ana"].pk, "name": "Ana Ruiz"}
    assert assignment["reject_reason"] is None and assignment["first_touch_at"] is None
    [timer] = body["sla_timers"]
    assert (timer["clock"], timer["status"], timer["policy"]["name"]) == ("accept", "running", "Accept in 30")
    assert timer["due_at"] == (offer.offered_at + timedelta(minutes=30)).isoformat().replace("+00:00", "Z")
    assert timer["met_at"] is None and timer["breached_at"] is None


def test_a_lead_never_routed_has_empty_history(api, org):
    lead = record_services.lead_create(org=org, email="quiet@acme.test")  # nothing is published
    assert api.get(f"/api/v1/leads/{lead.pk}/routing/").json() == {
        "decisions": [],
        "assignments": [],
        "sla_timers": [],
    }


def test_lead_routing_query_count_is_flat(api, org, team, django_assert_max_num_queries):
    lead = routed_lead(org)
    reason = RejectReason.objects.get(key="too_busy")
    for _ in range(2):  # Ana rejects, then Bob: the third decision finds nobody left
        routing.assignment_reject(org=org, assignment=offer_of(lead), actor=None, reason=reason)
        route_pending(lead)
    api.get("/api/v1/organization/")  # the key is resolved and cached
    with django_assert_max_num_queries(5):  # lead, decisions, assignments, timers, last-used stamp
        body = api.get(f"/api/v1/leads/{lead.pk}/routing/").json()
    assert [(d["trigger"], d["outcome"]) for d in body["decisions"]] == [
        ("rejected", "queued"),
        ("rejected", "assigned"),
        ("created", "assigned"),
    ]
    assert [(a["assignee"]["name"], a["status"]) for a in body["assignments"]] == [
        ("Bob Lee", "rejected"),
        ("Ana Ruiz", "rejected"),
    ]
    assert body["assignments"][0]["reject_reason"] == {"key": "too_busy", "label": "Too busy"}
    queued = body["decisions"][0]
    assert {(c["name"], c["excluded_label"]) for c in queued["considered"]} == {
        ("Ana Ruiz", "already rejected this lead"),
        ("Bob Lee", "already rejected this lead"),
    }


# --- POST /leads/{id}/touches/ ---------------------------------------------------------------------


def test_a_touch_meets_the_first_touch_clock(api, org, team):
    SlaPolicy.objects.create(organization=org, name="Call in 60", clock="first_touch", target_minutes=60)
    lead = routed_lead(org)
    at = timezone.now() - timedelta(minutes=5)

    response = api.post(
        f"/api/v1/leads/{lead.pk}/touches/",
        {"kind": "call", "note": "Left a voicemail", "occurred_at": at.isoformat()},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    touch = Touchpoint.objects.get(pk=body["touchpoint"]["id"])
    assert (touch.lead_id, touch.medium, touch.type, touch.occurred_at) == (lead.pk, "call", "call", at)
    offer = offer_of(lead)
    assert body["assignment"] == {
        "id": offer.pk,
        "status": "offered",
        "first_touch_at": body["touchpoint"]["occurred_at"],
    }
    assert offer.first_touch_at == at
    timer = SlaTimer.objects.get(assignment=offer)
    assert (timer.status, timer.met_at) == ("met", at)

    later = api.post(f"/api/v1/leads/{lead.pk}/touches/", {"kind": "email"}, format="json")
    assert later.status_code == 201
    assert later.json()["assignment"]["first_touch_at"] == body["assignment"]["first_touch_at"]


def test_a_touch_without_an_assignment_is_still_logged(api, org):
    lead = record_services.lead_create(org=org, email="solo@acme.test")
    response = api.post(f"/api/v1/leads/{lead.pk}/touches/", {"kind": "meeting"}, format="json")
    assert response.status_code == 201 and response.json()["assignment"] is None
    assert lead.touchpoints.count() == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "kind"),
        ({"kind": "fax"}, "kind"),
        ({"kind": "call", "occurred_at": "yesterday"}, "occurred_at"),
        ({"kind": "call", "occurred_at": "2999-01-01T00:00:00Z"}, "occurred_at"),
        ({"kind": "call", "channel": "x"}, "channel"),
    ],
)
def test_bad_touches_name_the_field(api, org, team, payload, field):
    lead = routed_lead(org)
    response = api.post(f"/api/v1/leads/{lead.pk}/touches/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"], response.json()
    assert not lead.touchpoints.exists()


# --- Assignments -----------------------------------------------------------------------------------


def test_assignments_list_filters_and_detail(api, org, team):
    first, second, third = (routed_lead(org, email=f"{n}@acme.test") for n in ("a", "b", "c"))
    ana, bob = team["ana"].pk, team["bob"].pk

    everything = api.get("/api/v1/assignments/").json()["results"]
    assert [a["lead"] for a in everything] == [third.pk, second.pk, first.pk]  # newest first
    assert [a["assignee"]["id"] for a in everything] == [ana, bob, ana]
    assert [a["lead"] for a in api.get(f"/api/v1/assignments/?assignee={bob}").json()["results"]] == [
        second.pk
    ]
    assert [a["lead"] for a in api.get(f"/api/v1/assignments/?lead={first.pk}").json()["results"]] == [
        first.pk
    ]
    assert len(api.get("/api/v1/assignments/?status=offered").json()["results"]) == 3
    assert api.get("/api/v1/assignments/?status=accepted").json()["results"] == []

    offer = offer_of(second)
    detail = api.get(f"/api/v1/assignments/{offer.pk}/").json()
    assert detail["id"] == offer.pk and detail["pool"] == {"id": team["emea"].pk, "name": "EMEA SDRs"}
    assert detail["decision"] == offer.decision_id


def test_assignment_filters_name_the_bad_field(api, org):
    response = api.get("/api/v1/assignments/?status=maybe")
    assert response.status_code == 400 and "status" in response.json()["error"]["fields"]
    response = api.get("/api/v1/assignments/?assignee=ana")
    assert response.status_code == 400 and "assignee" in response.json()["error"]["fields"]


def test_assignment_list_query_count_is_flat(api, org, team, django_assert_max_num_queries):
    for n in range(12):
        routed_lead(org, email=f"{n}@acme.test")
    api.get("/api/v1/organization/")
    with django_assert_max_num_queries(2):  # one page query, plus auth's last-used stamp at most
        response = api.get("/api/v1/assignments/?page_size=50")
    assert len(response.json()["results"]) == 12
    with django_assert_max_num_queries(2):
        response = api.get(f"/api/v1/assignments/?status=offered&assignee={team['bob'].pk}")
    assert len(response.json()["results"]) == 6


def test_accept_makes_the_rep_the_owner_and_a_second_accept_is_a_conflict(api, org, team):
    lead = routed_lead(org)
    offer = offer_of(lead)

    response = api.post(f"/api/v1/assignments/{offer.pk}/accept/")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "accepted" and response.json()["accepted_at"]
    lead.refresh_from_db()
    assert lead.owner_id == team["ana"].pk and lead.stage.key == "sal"
    again = api.post(f"/api/v1/assignments/{offer.pk}/accept/")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "not_offered"
    assert "status" in again.json()["error"]["fields"]
    assert (
        api.post(f"/api/v1/assignments/{offer.pk}/reject/", {"reason": "too_busy"}, format="json").status_code
        == 409
    )


def test_reject_routes_the_lead_to_someone_else(api, org, team):
    lead = routed_lead(org)
    offer = offer_of(lead)

    response = api.post(
        f"/api/v1/assignments/{offer.pk}/reject/",
        {"reason": "not_my_territory", "note": "UK is Bob's"},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "rejected" and body["reject_note"] == "UK is Bob's"
    assert body["reject_reason"] == {"key": "not_my_territory", "label": "Not my territory"}
    request = RoutingRequest.objects.get(lead=lead, status="pending")
    assert (request.trigger, request.exclude) == ("rejected", [team["ana"].pk])
    route_pending(lead)
    assert offer_of(lead).assignee_id == team["bob"].pk
    accepted = api.post(f"/api/v1/assignments/{offer.pk}/accept/")
    assert accepted.status_code == 409 and accepted.json()["error"]["code"] == "not_offered"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "reason"),
        ({"reason": "bored"}, "reason"),
        ({"reason": "retired"}, "reason"),  # no longer offered to reps
        ({"reason": "too_busy", "note": "x" * 501}, "note"),
        ({"reason": "too_busy", "why": "x"}, "why"),
    ],
)
def test_bad_rejections_name_the_field_and_change_nothing(api, org, team, payload, field):
    offer = offer_of(routed_lead(org))
    response = api.post(f"/api/v1/assignments/{offer.pk}/reject/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"], response.json()
    offer.refresh_from_db()
    assert offer.status == "offered"


def test_reject_reasons_in_display_order(api, org, team, django_assert_max_num_queries):
    api.get("/api/v1/organization/")
    with django_assert_max_num_queries(2):
        body = api.get("/api/v1/reject-reasons/").json()
    assert [(r["key"], r["is_active"]) for r in body] == [
        ("too_busy", True),
        ("not_my_territory", True),
        ("retired", False),
    ]


# --- POST /routing/preview/ ------------------------------------------------------------------------


def test_preview_a_saved_lead_and_unsaved_data_writing_nothing(api, org, team):
    us = pool_with_reps(org, [make_rep(org, "Cy Chan")], name="US SDRs")
    lead = routed_lead(org, country="US")
    draft(org, [us_rule(us), pool_rule(team["emea"], "Everyone")])
    before = snapshot()

    saved = api.post("/api/v1/routing/preview/", {"lead": lead.pk}, format="json")
    published = api.post("/api/v1/routing/preview/", {"lead": lead.pk, "version": "published"}, format="json")
    unsaved = api.post(
        "/api/v1/routing/preview/", {"lead_data": {"email": "new@else.test", "country": "DE"}}, format="json"
    )

    assert saved.status_code == published.status_code == unsaved.status_code == 200
    body = saved.json()
    assert body["version"] == {"number": 2, "status": "draft"}
    assert (body["outcome"], body["rule_index"], body["rule_name"]) == ("assigned", 0, "US")
    assert body["assignee"]["name"] == "Cy Chan" and body["pool"] == {"id": us.pk, "name": "US SDRs"}
    assert body["considered"] == [
        {"candidate": body["assignee"]["id"], "name": "Cy Chan", "excluded": None, "excluded_label": None,
         "pool": us.pk}
    ]  # fmt: skip
    assert body["trail"][0] == 'Rule 1 "US" matched'
    assert published.json()["version"] == {"number": 1, "status": "published"}
    assert published.json()["rule_name"] == "Everyone"
    assert unsaved.json()["rule_name"] == "Everyone" and unsaved.json()["trail"][0].startswith(
        'Rule 1 "US" did not'
    )
    assert snapshot() == before
    assert not Lead.objects.for_org(org).filter(email="new@else.test").exists()


def test_preview_with_nobody_eligible_is_queued(api, org, team):
    routing.rep_set_available(org=org, membership=team["ana"], available=False)
    routing.rep_set_available(org=org, membership=team["bob"], available=False)
    body = api.post("/api/v1/routing/preview/", {"lead_data": {"email": "a@b.test"}}, format="json").json()
    assert body["outcome"] == "queued" and body["assignee"] is None
    assert {c["excluded_label"] for c in body["considered"]} == {"marked unavailable"}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "lead"),
        ({"lead": 1, "lead_data": {}}, "lead_data"),
        ({"lead": 999999}, "lead"),
        ({"lead_data": {"country": "France"}}, "lead_data.country"),
        ({"lead_data": {"custom": {"nope": 1}}}, "lead_data.custom.nope"),
        ({"lead_data": {"stage": "nirvana"}}, "lead_data.stage"),
        ({"lead_data": {"owner": 1}}, "lead_data.owner"),
        ({"lead_data": {}, "version": "latest"}, "version"),
        ({"lead_data": {}, "version": "draft"}, "version"),  # there is no draft
    ],
)
def test_bad_previews_name_the_field(api, org, team, payload, field):
    response = api.post("/api/v1/routing/preview/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"], response.json()


# --- Scopes and tenancy ----------------------------------------------------------------------------


def test_read_scope_reads_and_previews_but_cannot_accept(org, team):
    offer = offer_of(routed_lead(org))
    reader = api_client_for(org, scopes=("read",))
    assert reader.get("/api/v1/assignments/").status_code == 200
    assert reader.get(f"/api/v1/leads/{offer.lead_id}/routing/").status_code == 200
    assert reader.get("/api/v1/reject-reasons/").status_code == 200
    assert reader.post("/api/v1/routing/preview/", {"lead": offer.lead_id}, format="json").status_code == 200
    for path, body in [
        (f"/api/v1/assignments/{offer.pk}/accept/", {}),
        (f"/api/v1/assignments/{offer.pk}/reject/", {"reason": "too_busy"}),
        (f"/api/v1/leads/{offer.lead_id}/touches/", {"kind": "call"}),
    ]:
        response = reader.post(path, body, format="json")
        assert response.status_code == 403, path
        assert "`write`" in response.json()["error"]["message"]
    offer.refresh_from_db()
    assert offer.status == "offered" and not Touchpoint.objects.exists()


def test_write_scope_alone_cannot_read_or_preview(org, team):
    offer = offer_of(routed_lead(org))
    writer = api_client_for(org, scopes=("write",))
    assert writer.get("/api/v1/assignments/").status_code == 403
    assert writer.get(f"/api/v1/leads/{offer.lead_id}/routing/").status_code == 403
    assert writer.post("/api/v1/routing/preview/", {"lead": offer.lead_id}, format="json").status_code == 403


def test_another_orgs_leads_and_assignments_are_404(org, team, other_org):
    offer = offer_of(routed_lead(org))
    theirs = api_client_for(other_org)
    RejectReason.objects.for_org(other_org).delete()  # only theirs, not the defaults
    RejectReason.objects.create(organization=other_org, key="too_busy", label="Too busy")
    for method, path, body in [
        ("get", f"/api/v1/leads/{offer.lead_id}/routing/", None),
        ("post", f"/api/v1/leads/{offer.lead_id}/touches/", {"kind": "call"}),
        ("get", f"/api/v1/assignments/{offer.pk}/", None),
        ("post", f"/api/v1/assignments/{offer.pk}/accept/", {}),
        ("post", f"/api/v1/assignments/{offer.pk}/reject/", {"reason": "too_busy"}),
    ]:
        response = getattr(theirs, method)(path, body, format="json")
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"
    assert theirs.get("/api/v1/assignments/").json()["results"] == []
    assert [r["key"] for r in theirs.get("/api/v1/reject-reasons/").json()] == ["too_busy"]
    preview = theirs.post("/api/v1/routing/preview/", {"lead": offer.lead_id}, format="json")
    assert preview.status_code == 400 and "lead" in preview.json()["error"]["fields"]
    offer.refresh_from_db()
    assert offer.status == "offered" and not Touchpoint.objects.exists()


def test_the_schema_documents_the_routing_api(client):
    schema = client.get("/api/schema/").content.decode()
    for path in (
        "/api/v1/leads/{id}/routing/",
        "/api/v1/leads/{id}/touches/",
        "/api/v1/assignments/{id}/accept/",
        "/api/v1/assignments/{id}/reject/",
        "/api/v1/reject-reasons/",
        "/api/v1/routing/preview/",
    ):
        assert path in schema
