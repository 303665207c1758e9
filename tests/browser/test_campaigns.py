"""A marketer files a campaign request in Chromium; an operations lead takes it through triage, build and QA
(ticking the manual check, overriding the failing automatic ones with a reason) and approves it to live."""

import pytest
from playwright.sync_api import expect

from apps.accounts.roles import Role
from apps.execution.models import Campaign
from tests import factories
from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def acme():
    admin = factories.make_user(email="ada@acme.test", full_name="Ada Admin")
    org = factories.make_org(name="Acme", slug="acme", owner=admin)
    factories.make_member(
        org, role=Role.MARKETER, user=factories.make_user(email="mia@acme.test", full_name="Mia Marketer")
    )
    rena = factories.make_member(
        org, role=Role.REVOPS_LEAD, user=factories.make_user(email="rena@acme.test", full_name="Rena Ops")
    )
    return {"org": org, "rena": rena}


def test_a_request_goes_from_intake_to_live(page, acme):
    # The marketer files the request.
    log_in(page, "mia@acme.test", factories.PASSWORD)
    page.goto("/o/acme/campaigns/")
    page.get_by_role("link", name="Request a campaign").first.click()
    page.get_by_label("Name").fill("Forecasting webinar")
    page.get_by_label("Type").select_option("webinar")
    page.get_by_label("Brief").fill("A webinar for RevOps leads on forecasting, with a replay nurture.")
    page.get_by_label("Planned budget").fill("5000")
    page.get_by_label("Success KPI").select_option("leads")
    page.get_by_label("KPI target").fill("120")
    page.get_by_label("UTM source").fill("webinar")
    page.get_by_label("UTM medium").fill("email")
    page.get_by_label("UTM campaign").fill("2026-q3-webinar-forecasting")
    page.get_by_role("button", name="Submit request").click()
    expect(page.locator("#campaign-status")).to_have_text("Requested")
    expect(page.locator("body")).not_to_contain_text("Move it on")  # marketers do not triage
    campaign = Campaign.objects.get(organization=acme["org"])
    assert campaign.requested_by.user.email == "mia@acme.test"

    # The operations lead triages it and takes it through build and QA.
    page.context.clear_cookies()
    log_in(page, "rena@acme.test", factories.PASSWORD)
    page.goto(f"/o/acme/campaigns/{campaign.pk}/")
    page.get_by_label("Operations owner").select_option(label="Rena Ops")
    page.get_by_label("Due date").fill("2026-09-15")
    page.get_by_role("button", name="Triage").click()
    expect(page.locator("#campaign-status")).to_have_text("Triaged")
    page.get_by_role("button", name="Start build").click()
    expect(page.locator("#campaign-status")).to_have_text("In build")
    page.get_by_role("button", name="Send to QA").click()
    expect(page.locator("#campaign-status")).to_have_text("In QA")
    qa = page.locator("#qa")
    expect(qa.locator(".qa-utm_valid")).to_contain_text("Pass")
    expect(qa.locator(".qa-journey_attached")).to_contain_text("Fail")
    page.get_by_role("button", name="Tick “Links, forms and tracking tested by hand”").click()
    expect(qa.locator(".qa-manual")).to_contain_text("Pass")

    # Approving without a reason is refused: the journey and routing checks fail.
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("body")).to_contain_text("QA has failing required checks")
    expect(page.locator("#campaign-status")).to_have_text("In QA")
    page.locator("#override-approved").fill("Nurture journey ships the day after the webinar")
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("#campaign-status")).to_have_text("Approved")
    page.locator("#override-live").fill("Nurture journey ships the day after the webinar")
    page.get_by_role("button", name="Go live").click()

    expect(page.locator("#campaign-status")).to_have_text("Live")
    history = page.locator("#history")
    expect(history).to_contain_text("approved → Live")
    expect(history).to_contain_text("QA overridden")
    expect(page.locator("#workflow")).to_contain_text("Complete")
    campaign.refresh_from_db()
    assert campaign.status == "live" and campaign.live_at is not None and campaign.ops_owner == acme["rena"]
    assert list(campaign.transitions.values_list("to_status", flat=True)) == [
        "requested",
        "triaged",
        "in_build",
        "in_qa",
        "approved",
        "live",
    ]
    assert not page.console_problems
