"""Change request pages and the JSON API: listing and filters, creating from the current state, JSON
errors per field, the buttons each role sees, the workflow through the API, and the definitions page
as of a past date."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import ApiKey
from apps.accounts.roles import Role
from apps.governance.changes import metrics, stages
from apps.governance.models import ChangeRequest, ChangeStatus
from apps.governance.services import changes as services
from apps.records.models import LifecycleStage, StageDefinitionVersion
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(org, owner):
    return owner.memberships.get(organization=org)


@pytest.fixture
def revops(org):
    return factories.make_member(org, role=Role.REVOPS_LEAD)


def url(name, org, *args):
    return reverse(name, args=[org.slug, *args])


def margin_change(org, by, value=0.7, **fields):
    return services.change_create(
        org=org, by=by, subject="metrics", title=f"Margin {value}",
        proposed={**metrics.export(org), "gross_margin": value}, **fields,
    )  # fmt: skip


# --- Pages -------------------------------------------------------------------------------------------


def test_the_list_has_an_empty_state_and_filters(owner_client, org, admin, revops):
    response = owner_client.get(url("governance_changes", org))
    assert response.status_code == 200
    assert "No change requests yet" in response.content.decode()

    margin_change(org, revops)
    applied = margin_change(org, revops, 0.6)
    services.change_submit(org=org, change=applied, by=revops)
    services.change_approve(org=org, change=applied, by=admin)

    body = owner_client.get(url("governance_changes", org)).content.decode()
    assert "Margin 0.7" in body and "Margin 0.6" in body
    body = owner_client.get(url("governance_changes", org), {"status": "applied"}).content.decode()
    assert "Margin 0.6" in body and "Margin 0.7" not in body
    body = owner_client.get(url("governance_changes", org), {"subject": "kpi"}).content.decode()
    assert "No change requests match these filters" in body


def test_create_starts_from_the_current_state_and_the_edit_page_lists_json_errors(owner_client, org):
    response = owner_client.post(
        url("governance_change_new", org),
        {"what": "stages", "title": "Stricter SAL", "rationale": "Too loose."},
    )
    change = ChangeRequest.objects.for_org(org).get()
    assert response.status_code == 302 and response["Location"] == url(
        "governance_change_edit", org, change.pk
    )
    assert change.proposed == stages.export(org) == change.before

    proposed = stages.export(org)
    proposed["stages"][2]["entry_criteria"] = ""
    form = {"title": "Stricter SAL", "rationale": "", "effective_at": "", "proposed": json.dumps(proposed)}
    response = owner_client.post(url("governance_change_edit", org, change.pk), form)
    body = response.content.decode()
    assert response.status_code == 200
    assert (
        "proposed.stages[2].entry_criteria" in body and "Every stage needs a written entry criterion." in body
    )

    response = owner_client.post(
        url("governance_change_edit", org, change.pk), {**form, "proposed": "{not json"}
    )
    assert "Not valid JSON" in response.content.decode()

    proposed["stages"][2]["entry_criteria"] = "A rep accepted it within the SLA after a first call."
    form.update(proposed=json.dumps(proposed), effective_at="2030-01-02T09:30")
    response = owner_client.post(url("governance_change_edit", org, change.pk), form)
    assert response.status_code == 302
    change.refresh_from_db()
    assert change.proposed["stages"][2]["entry_criteria"].startswith("A rep accepted")
    assert change.effective_at.isoformat() == "2030-01-02T09:30:00+00:00"  # the organisation's zone (UTC)
    body = owner_client.get(url("governance_change", org, change.pk)).content.decode()
    assert "+      &quot;entry_criteria&quot;: &quot;A rep accepted" in body
    assert "Submit for review" in body


def test_the_detail_page_walks_the_workflow_and_shows_the_trail(client, org, owner, revops):
    change = margin_change(org, revops)
    client.force_login(revops.user)
    response = client.post(url("governance_change_action", org, change.pk), {"action": "submit"})
    assert response.status_code == 302
    body = client.get(url("governance_change", org, change.pk)).content.decode()
    assert "In review" in body
    assert "Approve and apply" not in body  # the requester, with another approver in the organisation

    client.force_login(owner)
    body = client.get(url("governance_change", org, change.pk)).content.decode()
    assert "Approve and apply" in body
    client.post(url("governance_change_action", org, change.pk), {"action": "preview"})
    client.post(
        url("governance_change_action", org, change.pk), {"action": "approve", "note": "Agreed in the review"}
    )
    change.refresh_from_db()
    assert change.status == ChangeStatus.APPLIED and change.decision_note == "Agreed in the review"
    assert change.impact["kind"] == "diff"
    body = client.get(url("governance_change", org, change.pk)).content.decode()
    assert "Roll back" in body
    trail = body.split('id="trail"')[1]
    # The header, then: created, submitted, previewed, approved, applied.
    assert trail.count("<tr>") == 6
    assert "owner@acme.test" in trail

    response = client.post(url("governance_change_action", org, change.pk), {"action": "rollback"})
    change.refresh_from_db()
    assert change.status == ChangeStatus.ROLLED_BACK


def test_a_refused_step_is_a_message_and_a_viewer_gets_403(client, org, owner, admin, members):
    change = margin_change(org, admin)
    client.force_login(owner)
    response = client.post(
        url("governance_change_action", org, change.pk), {"action": "approve"}, follow=True
    )
    assert "cannot be approved" in response.content.decode()

    client.force_login(members[Role.VIEWER].user)
    body = client.get(url("governance_change", org, change.pk)).content.decode()
    assert "Submit for review" not in body
    assert (
        client.post(url("governance_change_action", org, change.pk), {"action": "submit"}).status_code == 403
    )
    assert client.get(url("governance_change_new", org)).status_code == 403
    assert client.post(url("governance_change_control", org), {"change_control": "on"}).status_code == 403


def test_the_change_control_switch_is_for_admins(owner_client, org):
    body = owner_client.get(url("governance_changes", org)).content.decode()
    assert "Turn change control on" in body
    owner_client.post(url("governance_change_control", org), {"change_control": "on"})
    assert services.governance_settings(org=org).change_control is True
    body = owner_client.get(url("governance_changes", org)).content.decode()
    assert "Turn change control off" in body


def test_a_direct_edit_page_refuses_under_change_control(owner_client, org):
    services.change_control_set(org=org, enabled=True)
    stage = LifecycleStage.objects.for_org(org).get(key="sql")
    response = owner_client.post(
        reverse("records_stage_edit", args=[org.slug, stage.pk]),
        {"name": "Qualified", "order": stage.order, "entry_criteria": stage.entry_criteria,
         "owner_team": "", "note": "Clearer name", "effective_date": "",
         "rule-TOTAL_FORMS": "0", "rule-INITIAL_FORMS": "0"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "under change control" in response.content.decode()
    assert LifecycleStage.objects.for_org(org).get(key="sql").name == "SQL"


# --- The definitions page as of a date ---------------------------------------------------------------


def test_definitions_as_of_a_date_shows_the_state_then(owner_client, org, owner, revops):
    proposed = stages.export(org)
    proposed["stages"][1]["name"] = "Marketing qualified"
    change = services.change_create(
        org=org, by=revops, subject="stages", title="Rename MQL", proposed=proposed
    )
    services.change_submit(org=org, change=change, by=revops)
    services.change_approve(org=org, change=change, by=owner.memberships.get(organization=org))
    margin = margin_change(org, revops, 0.65)
    services.change_submit(org=org, change=margin, by=revops)
    services.change_approve(org=org, change=margin, by=owner.memberships.get(organization=org))
    ten_days_ago = timezone.now() - timedelta(days=10)
    ChangeRequest.objects.filter(pk__in=[change.pk, margin.pk]).update(applied_at=ten_days_ago)
    StageDefinitionVersion.objects.for_org(org).filter(number=1).update(
        effective_from=timezone.now() - timedelta(days=30)
    )

    page = reverse("records_definitions", args=[org.slug])
    body = owner_client.get(
        page, {"as_of": (timezone.now() - timedelta(days=5)).date().isoformat()}
    ).content.decode()
    assert "The operating model as of" in body
    assert "Marketing qualified" in body and f"change request #{change.pk}" in body
    assert "65" in body.split('id="as-of-metrics"')[1].split("</section>")[0]

    body = owner_client.get(
        page, {"as_of": (timezone.now() - timedelta(days=20)).date().isoformat()}
    ).content.decode()
    assert "definition version 1" in body  # before any request: the published stage versions
    assert "No change request applied" in body.split('id="as-of-metrics"')[1].split("</section>")[0]

    body = owner_client.get(page, {"as_of": "not-a-date"}).content.decode()
    assert "Give the date as YYYY-MM-DD" in body


# --- API ---------------------------------------------------------------------------------------------


def api_key_for(org, user, scopes=("read", "write")):
    """An API client whose key was created by `user` (the member it acts as)."""
    _, raw = factories.make_api_key(org, scopes=scopes, name=f"Key of {user.email}")
    ApiKey.objects.filter(organization=org, name=f"Key of {user.email}").update(created_by=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_api_workflow_from_draft_to_rolled_back(org, owner, revops):
    ops, boss = api_key_for(org, revops.user), api_key_for(org, owner)
    body = {"subject": "metrics", "title": "Margin after hosting",
            "proposed": {**metrics.export(org), "gross_margin": 0.7}}  # fmt: skip
    response = ops.post("/api/v1/change-requests/", body, format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["status"] == "draft" and created["requested_by"] == revops.pk
    changed = [line for line in created["diff"] if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed == ['-  "gross_margin": 0.8,', '+  "gross_margin": 0.7,']
    pk = created["id"]
    edited = ops.patch(f"/api/v1/change-requests/{pk}/", {"title": "Margin net of hosting"}, format="json")
    assert edited.status_code == 200 and edited.json()["title"] == "Margin net of hosting"
    refused = ops.patch(f"/api/v1/change-requests/{pk}/", {"status": "applied"}, format="json")
    assert refused.json()["error"]["fields"] == {"status": ["Unknown field."]}

    assert ops.post(f"/api/v1/change-requests/{pk}/submit/").json()["status"] == "in_review"
    refused = ops.post(f"/api/v1/change-requests/{pk}/approve/", {}, format="json")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "self_approval"
    preview = boss.post(f"/api/v1/change-requests/{pk}/preview/")
    assert preview.json()["impact"]["kind"] == "diff"
    approved = boss.post(f"/api/v1/change-requests/{pk}/approve/", {"note": "Yes"}, format="json").json()
    assert approved["status"] == "applied" and approved["decision_note"] == "Yes"
    assert metrics.export(org)["gross_margin"] == 0.7

    listed = ops.get("/api/v1/change-requests/", {"status": "applied"}).json()
    assert [row["id"] for row in listed["results"]] == [pk]
    assert ops.get("/api/v1/change-requests/", {"status": "draft"}).json()["results"] == []

    assert boss.post(f"/api/v1/change-requests/{pk}/rollback/").json()["status"] == "rolled_back"
    assert metrics.export(org)["gross_margin"] == 0.8


def test_api_errors_name_the_field(org, owner, members):
    boss = api_key_for(org, owner)
    response = boss.post(
        "/api/v1/change-requests/",
        {"subject": "metrics", "title": "Bad", "proposed": {**metrics.export(org), "gross_margin": 2}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "proposed.gross_margin": ["Give the margin as a share above 0 and at most 1 (0.8 = 80 %)."]
    }
    response = boss.post("/api/v1/change-requests/", {"subject": "budget", "title": "x"}, format="json")
    assert list(response.json()["error"]["fields"]) == ["subject"]
    response = boss.post(
        "/api/v1/change-requests/", {"subject": "stages", "title": "x", "colour": 1}, format="json"
    )
    assert response.json()["error"]["fields"] == {"colour": ["Unknown field."]}
    response = boss.post(
        "/api/v1/change-requests/", {"subject": "stages", "title": "x", "target_id": 3}, format="json"
    )
    assert list(response.json()["error"]["fields"]) == ["target_id"]
    response = boss.get("/api/v1/change-requests/", {"colour": "red"})
    assert response.json()["error"]["fields"] == {"colour": ["Unknown filter."]}

    viewer = api_key_for(org, members[Role.VIEWER].user)
    response = viewer.post("/api/v1/change-requests/", {"subject": "stages", "title": "x"}, format="json")
    assert response.status_code == 403
    read_only = api_key_for(org, owner, scopes=("read",))
    assert read_only.get("/api/v1/change-requests/").status_code == 200
    assert (
        read_only.post(
            "/api/v1/change-requests/", {"subject": "stages", "title": "x"}, format="json"
        ).status_code
        == 403
    )


def test_kpi_page_and_api_refuse_direct_edits_under_change_control(owner_client, org, owner, api):
    from apps.strategy.models import KpiNode
    from apps.strategy.services import kpi as kpi_services

    node = kpi_services.kpi_node_create(org=org, name="Pipeline created")
    services.change_control_set(org=org, enabled=True)

    response = owner_client.post(reverse("strategy_kpi_node_delete", args=[org.slug, node.pk]), follow=True)
    assert "The KPI tree is under change control in this organisation" in response.content.decode()
    assert KpiNode.objects.filter(pk=node.pk).exists()

    response = api.post("/api/v1/kpi-nodes/", {"name": "Another"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "change_control"
    assert KpiNode.objects.for_org(org).count() == 1
