"""Positioning per segment and offers: versioning, validation, history, pages, API and permissions."""

import pghistory
import pytest
from django.urls import reverse

from apps.accounts.models import Membership
from apps.accounts.roles import Role
from apps.core.errors import ServiceError
from apps.strategy.models import Offer, Positioning, Segment
from apps.strategy.services import positioning as services
from tests import factories
from tests.conftest import api_client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan(org, owner):
    admin = Membership.objects.get(organization=org, user=owner)
    marketer = factories.make_member(
        org, role=Role.MARKETER, user=factories.make_user(full_name="Mia Marketer")
    )
    icp = Segment.objects.create(organization=org, key="icp", name="Ideal customers", is_icp=True)
    emea = Segment.objects.create(organization=org, key="emea", name="EMEA")
    return {"org": org, "admin": admin, "marketer": marketer, "icp": icp, "emea": emea}


# --- Positioning: versions and validation --------------------------------------------------------


def test_positioning_versions_count_content_changes(plan):
    org, icp = plan["org"], plan["icp"]
    with pghistory.context(actor_email="owner@acme.test"):
        first = services.positioning_save(
            org=org,
            segment=icp,
            value_propositions=["Faster routing", "  ", "One funnel"],
            messaging_pillars="Speed\n\nTruth\n",
            owner=plan["admin"],
        )
    assert first.version == 1
    assert first.value_propositions == ["Faster routing", "One funnel"]  # the blank item dropped
    assert first.messaging_pillars == ["Speed", "Truth"]  # one item per line
    same = services.positioning_save(org=org, segment=icp, messaging_pillars=["Speed", "Truth"])
    assert same.version == 1  # nothing changed: not a version
    with pghistory.context(actor_email="lead@acme.test"):
        second = services.positioning_save(org=org, segment=icp.pk, proof_points=["Acme: 4 minutes"])
    assert second.pk == first.pk and second.version == 2
    assert second.value_propositions == ["Faster routing", "One funnel"]  # untouched fields stay
    services.positioning_save(org=org, segment=icp, owner=plan["marketer"])
    assert Positioning.objects.get(pk=first.pk).version == 3

    history = services.positioning_history(org=org, positioning=second)
    assert [v.version for v in history] == [3, 2, 1]  # newest first
    assert history[1].who == "lead@acme.test"
    assert history[1].changes == [("Proof points", None, "Acme: 4 minutes")]
    assert history[0].changes == [("Owner", "Olivia Owner", "Mia Marketer")]
    assert history[2].who == "owner@acme.test"
    assert ("Value propositions", None, "Faster routing; One funnel") in history[2].changes


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"value_propositions": ["x" * 301]}, "value_propositions"),
        ({"messaging_pillars": [f"p{n}" for n in range(21)]}, "messaging_pillars"),
        ({"proof_points": [3]}, "proof_points"),
        ({"proof_points": {"a": 1}}, "proof_points"),
        ({"owner": 999999}, "owner"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_positioning_bad_input_names_the_field(plan, fields, field):
    with pytest.raises(ServiceError) as caught:
        services.positioning_save(org=plan["org"], segment=plan["icp"], **fields)
    assert caught.value.field == field
    assert not Positioning.objects.exists()


def test_positioning_refuses_another_organisations_segment(plan, other_org):
    foreign = Segment.objects.create(organization=other_org, key="icp", name="Theirs")
    with pytest.raises(ServiceError) as caught:
        services.positioning_save(org=plan["org"], segment=foreign.pk, value_propositions=["x"])
    assert caught.value.field == "segment"


# --- Offers --------------------------------------------------------------------------------------


def test_offer_versions_and_deactivation(plan):
    org = plan["org"]
    offer = services.offer_create(org=org, name=" Live  demo ", type="demo", segment=plan["icp"])
    assert (offer.name, offer.version, offer.active) == ("Live demo", 1, True)
    services.offer_update(org=org, offer=offer, description="30 minutes on your funnel")
    assert offer.version == 2
    services.offer_update(org=org, offer=offer, description="30 minutes on your funnel")
    assert offer.version == 2  # no change
    services.offer_deactivate(org=org, offer=offer)
    offer.refresh_from_db()
    assert (offer.active, offer.version) == (False, 2)  # switching off is not a new version
    services.offer_update(org=org, offer=offer, type="trial", segment=None)
    offer.refresh_from_db()
    assert (offer.type, offer.segment, offer.version) == ("trial", None, 3)
    history = services.offer_history(org=org, offer=offer)
    assert [v.version for v in history] == [3, 2, 2, 1]
    assert ("Active", "yes", "no") in history[1].changes
    assert ("Segment", "Ideal customers", None) in history[0].changes


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": ""}, "name"),
        ({"type": "webinar"}, "type"),
        ({"segment": 999999}, "segment"),
        ({"owner": "abc"}, "owner"),
        ({"description": "x" * 2001}, "description"),
        ({"active": "maybe"}, "active"),
    ],
)
def test_offer_bad_input_names_the_field(plan, fields, field):
    with pytest.raises(ServiceError) as caught:
        services.offer_create(org=plan["org"], **{"name": "Demo", "type": "demo", **fields})
    assert caught.value.field == field
    assert not Offer.objects.exists()


def test_offers_filtered(plan):
    org = plan["org"]
    demo = services.offer_create(org=org, name="Demo", type="demo", segment=plan["icp"])
    trial = services.offer_create(org=org, name="Trial", type="trial", segment=plan["emea"])
    report = services.offer_create(org=org, name="Report", type="content")
    services.offer_deactivate(org=org, offer=trial)
    assert list(services.offers_filtered(org=org)) == [demo, report, trial]  # active first, then by name
    assert list(services.offers_filtered(org=org, type="trial")) == [trial]
    assert list(services.offers_filtered(org=org, segment=plan["icp"])) == [demo]
    assert list(services.offers_filtered(org=org, active=True)) == [demo, report]


# --- Pages ---------------------------------------------------------------------------------------


def _as(client, membership):
    client.force_login(membership.user)
    return client


def test_positioning_page_shows_each_segment_with_its_offers(plan, client):
    org = plan["org"]
    services.positioning_save(
        org=org, segment=plan["icp"], value_propositions=["Faster routing"], proof_points=["Acme: 4 minutes"]
    )
    services.offer_create(org=org, name="Live demo", type="demo", segment=plan["icp"])
    services.offer_create(org=org, name="Benchmark report", type="content")
    body = _as(client, plan["marketer"]).get(reverse("strategy_positioning", args=["acme"])).content.decode()
    assert "Faster routing" in body and "Acme: 4 minutes" in body
    assert "Live demo" in body and "Benchmark report" in body
    assert "No positioning for EMEA yet" in body  # the segment without one says so
    assert "Edit positioning" not in body and "Write positioning" not in body  # a marketer reads


def test_positioning_page_without_segments_says_what_to_do(org, owner_client):
    body = owner_client.get(reverse("strategy_positioning", args=["acme"])).content.decode()
    assert "No segments yet" in body
    assert "Define your ICP and segments first" in body


def test_edit_positioning_and_read_its_history(plan, owner_client):
    org, icp = plan["org"], plan["icp"]
    url = reverse("strategy_positioning_edit", args=["acme", icp.pk])
    form = {
        "value_propositions": "Faster routing\nOne funnel",
        "messaging_pillars": "Speed",
        "proof_points": "",
        "owner": plan["admin"].pk,
    }
    assert owner_client.post(url, {**form, "value_propositions": "x" * 301}).status_code == 400
    assert owner_client.post(url, form).status_code == 302
    assert owner_client.post(url, {**form, "messaging_pillars": "Speed\nTruth"}).status_code == 302
    positioning = Positioning.objects.get(organization=org, segment=icp)
    assert positioning.version == 2
    assert positioning.messaging_pillars == ["Speed", "Truth"]
    history = owner_client.get(reverse("strategy_positioning_history", args=["acme", icp.pk]))
    body = history.content.decode()
    assert "owner@acme.test" in body  # who, from the audit trail
    assert "<del>Speed</del> → Speed; Truth" in body  # what changed
    empty = owner_client.get(reverse("strategy_positioning_history", args=["acme", plan["emea"].pk]))
    assert "No positioning yet" in empty.content.decode()


def test_offer_pages_filter_create_edit_and_deactivate(plan, owner_client):
    org = plan["org"]
    new = reverse("strategy_offer_new", args=["acme"])
    bad = owner_client.post(new, {"name": "", "type": "demo"})
    assert bad.status_code == 400 and "name" in bad.context["form"].errors
    response = owner_client.post(new, {"name": "Live demo", "type": "demo", "segment": plan["icp"].pk})
    offer = Offer.objects.get(organization=org, name="Live demo")
    assert response.status_code == 302 and offer.segment == plan["icp"]
    services.offer_create(org=org, name="EMEA webinar", type="event", segment=plan["emea"])
    listing = reverse("strategy_offers", args=["acme"])
    assert "EMEA webinar" not in owner_client.get(listing, {"type": "demo"}).content.decode()
    only_emea = owner_client.get(listing, {"segment": plan["emea"].pk}).content.decode()
    assert "EMEA webinar" in only_emea and "Live demo" not in only_emea
    edit = reverse("strategy_offer_edit", args=["acme", offer.pk])
    assert owner_client.post(edit, {"name": "Live demo", "type": "trial", "segment": ""}).status_code == 302
    offer.refresh_from_db()
    assert (offer.type, offer.segment, offer.version) == ("trial", None, 2)
    toggle = reverse("strategy_offer_active", args=["acme", offer.pk])
    assert owner_client.get(toggle).status_code == 405
    assert owner_client.post(toggle).status_code == 302
    offer.refresh_from_db()
    assert not offer.active
    inactive = owner_client.get(listing, {"active": "no"}).content.decode()
    assert "Live demo" in inactive and "EMEA webinar" not in inactive
    detail = owner_client.get(reverse("strategy_offer", args=["acme", offer.pk])).content.decode()
    assert "Inactive" in detail and "<del>Demo</del> → Trial" not in detail  # types are stored as keys
    assert "<del>demo</del> → trial" in detail
    empty = owner_client.get(listing, {"type": "assessment"}).content.decode()
    assert "No offers match these filters" in empty


def test_only_revops_leads_and_admins_edit(plan, client):
    offer = services.offer_create(org=plan["org"], name="Demo", type="demo")
    for role in (Role.MARKETER, Role.SALES_MANAGER, Role.VIEWER):
        member = factories.make_member(plan["org"], role=role)
        client = _as(client, member)
        assert client.get(reverse("strategy_positioning", args=["acme"])).status_code == 200
        assert client.get(reverse("strategy_offer", args=["acme", offer.pk])).status_code == 200
        assert client.get(reverse("strategy_offer_new", args=["acme"])).status_code == 403
        edit = reverse("strategy_positioning_edit", args=["acme", plan["icp"].pk])
        assert client.post(edit, {"value_propositions": "x"}).status_code == 403
        assert client.post(reverse("strategy_offer_active", args=["acme", offer.pk])).status_code == 403
    lead = factories.make_member(plan["org"], role=Role.REVOPS_LEAD)
    assert _as(client, lead).get(reverse("strategy_offer_new", args=["acme"])).status_code == 200
    offer.refresh_from_db()
    assert offer.active and not Positioning.objects.exists()


# --- API -----------------------------------------------------------------------------------------


def test_api_positioning_per_segment(plan):
    api = api_client_for(plan["org"])
    body = {"segment": plan["icp"].pk, "value_propositions": ["Faster routing"], "owner": plan["admin"].pk}
    created = api.post("/api/v1/positioning/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["version"] == 1
    again = api.post("/api/v1/positioning/", {**body, "proof_points": ["Acme"]}, format="json")
    assert again.status_code == 200  # the segment's one positioning, changed
    assert again.json()["id"] == created.json()["id"] and again.json()["version"] == 2
    pk = created.json()["id"]
    patched = api.patch(f"/api/v1/positioning/{pk}/", {"messaging_pillars": ["Speed"]}, format="json")
    assert patched.json()["version"] == 3 and patched.json()["messaging_pillars"] == ["Speed"]
    moved = api.patch(f"/api/v1/positioning/{pk}/", {"segment": plan["emea"].pk}, format="json")
    assert moved.status_code == 400 and "segment" in moved.json()["error"]["fields"]
    api.post("/api/v1/positioning/", {"segment": plan["emea"].pk}, format="json")
    listed = api.get("/api/v1/positioning/", {"segment": plan["icp"].pk}).json()["results"]
    assert [row["id"] for row in listed] == [pk]
    for change, field in [
        ({"segment": 999999}, "segment"),
        ({"owner": 999999}, "owner"),
        ({"proof_points": "not a list"}, "proof_points"),
        ({"tone": "warm"}, "tone"),
    ]:
        response = api.post("/api/v1/positioning/", {**body, **change}, format="json")
        assert response.status_code == 400, change
        assert field in response.json()["error"]["fields"], response.content
    assert api.delete(f"/api/v1/positioning/{pk}/").status_code == 204
    assert not Positioning.objects.filter(pk=pk).exists()


def test_api_offers_crud_and_filters(plan):
    api = api_client_for(plan["org"])
    created = api.post(
        "/api/v1/offers/", {"name": "Live demo", "type": "demo", "segment": plan["icp"].pk}, format="json"
    )
    assert created.status_code == 201, created.content
    offer = created.json()
    assert (offer["version"], offer["active"], offer["segment"]) == (1, True, plan["icp"].pk)
    api.post("/api/v1/offers/", {"name": "Report", "type": "content"}, format="json")
    patched = api.patch(f"/api/v1/offers/{offer['id']}/", {"active": False}, format="json").json()
    assert (patched["active"], patched["version"]) == (False, 1)
    patched = api.patch(f"/api/v1/offers/{offer['id']}/", {"name": "Demo"}, format="json").json()
    assert patched["version"] == 2
    assert [o["name"] for o in api.get("/api/v1/offers/", {"active": "true"}).json()["results"]] == ["Report"]
    assert [o["name"] for o in api.get("/api/v1/offers/", {"type": "demo"}).json()["results"]] == ["Demo"]
    by_segment = api.get("/api/v1/offers/", {"segment": plan["icp"].pk}).json()["results"]
    assert [o["name"] for o in by_segment] == ["Demo"]
    for change, field in [
        ({"type": "webinar"}, "type"),
        ({"segment": 999999}, "segment"),
        ({"name": ""}, "name"),
    ]:
        response = api.post("/api/v1/offers/", {"name": "X", "type": "demo", **change}, format="json")
        assert response.status_code == 400, change
        assert field in response.json()["error"]["fields"], response.content
    bad_filter = api.get("/api/v1/offers/", {"colour": "red"})
    assert bad_filter.status_code == 400 and "colour" in bad_filter.json()["error"]["fields"]
    assert api.delete(f"/api/v1/offers/{offer['id']}/").status_code == 204
    assert not Offer.objects.filter(pk=offer["id"]).exists()
