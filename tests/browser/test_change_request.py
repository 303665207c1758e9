"""A change request in Chromium, from draft to applied: an admin puts the operating model under change
control, a RevOps lead drafts a stage definition change from the current state and submits it, and the
admin approves it, which applies it."""

import json

import pytest
from playwright.sync_api import expect

from apps.accounts.roles import Role
from apps.governance.changes import stages
from apps.governance.models import ChangeRequest, GovernanceSettings
from apps.records.models import LifecycleStage, StageDefinitionVersion
from tests import factories
from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def acme():
    owner = factories.make_user(email="olga@acme.test", full_name="Olga Admin")
    org = factories.make_org(name="Acme", slug="acme", owner=owner, time_zone="UTC")
    rena = factories.make_user(email="rena@acme.test", full_name="Rena Lead")
    factories.make_member(org, role=Role.REVOPS_LEAD, user=rena)
    return org


def test_a_stage_change_goes_from_draft_to_applied(page, acme):
    log_in(page, "olga@acme.test", factories.PASSWORD)
    page.goto("/o/acme/governance/changes/")
    expect(page.get_by_role("heading", name="No change requests yet")).to_be_visible()
    page.get_by_role("button", name="Turn change control on").click()
    expect(page.get_by_text("Change control is on")).to_be_visible()
    assert GovernanceSettings.objects.get(organization=acme).change_control is True
    page.context.clear_cookies()

    # The RevOps lead drafts the change, starting from the current definitions.
    log_in(page, "rena@acme.test", factories.PASSWORD)
    page.goto("/o/acme/governance/changes/")
    page.get_by_role("link", name="Propose the first change").click()
    page.get_by_label("What to change:").select_option(label="Stage definitions")
    page.get_by_label("Title:").fill("Stricter SAL")
    page.get_by_label("Rationale:").fill("Reps accept leads they never call.")
    page.get_by_role("button", name="Create draft").click()

    expect(page.get_by_role("heading", name="Edit draft: Stricter SAL")).to_be_visible()
    textarea = page.get_by_label("Proposed state (JSON):")
    document = json.loads(textarea.input_value())
    assert document == stages.export(acme)
    sal = next(stage for stage in document["stages"] if stage["key"] == "sal")
    sal["entry_criteria"] = ""
    textarea.fill(json.dumps(document, indent=2))
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator("#proposal-errors")).to_contain_text("proposed.stages[2].entry_criteria")

    sal["entry_criteria"] = "A rep accepted the lead and booked a first call within two days."
    sal["name"] = "Sales accepted"
    page.get_by_label("Proposed state (JSON):").fill(json.dumps(document, indent=2))
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("Draft saved.")).to_be_visible()
    expect(page.locator("pre.routing-diff").first).to_contain_text('+      "name": "Sales accepted"')

    page.get_by_role("button", name="Submit for review").click()
    expect(page.get_by_text("Submitted for review.")).to_be_visible()
    expect(page.get_by_role("button", name="Approve and apply")).to_have_count(0)  # not their own
    change = ChangeRequest.objects.get(organization=acme)
    assert change.status == "in_review"
    page.context.clear_cookies()

    # The admin reviews the diff and approves; with no effective date it applies at once.
    log_in(page, "olga@acme.test", factories.PASSWORD)
    page.goto(f"/o/acme/governance/changes/{change.pk}/")
    page.get_by_role("button", name="Preview the impact").click()
    expect(page.get_by_text("Impact preview computed.")).to_be_visible()
    page.get_by_label("Note", exact=True).fill("Agreed with sales")
    page.get_by_role("button", name="Approve and apply").click()
    expect(page.get_by_text("Approved and applied.")).to_be_visible()
    expect(page.locator("h1 .badge")).to_have_text("Applied")
    expect(page.get_by_role("heading", name="What it changed")).to_be_visible()

    stage = LifecycleStage.objects.get(organization=acme, key="sal")
    assert (stage.name, stage.entry_criteria) == (
        "Sales accepted",
        "A rep accepted the lead and booked a first call within two days.",
    )
    latest = StageDefinitionVersion.objects.filter(organization=acme).order_by("-number").first()
    assert latest.note == f"Change request #{change.pk}: Stricter SAL"

    page.goto("/o/acme/records/definitions/")
    expect(page.get_by_text("Sales accepted", exact=True)).to_be_visible()
    assert not page.console_problems
