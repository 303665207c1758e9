"""A RevOps lead opens this week's planned review in Chromium, records a decision and an action item
through the page's htmx forms, and sees both listed; a refusal names what is missing."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.execution.models import Campaign
from apps.governance.models import ActionItem, Decision
from apps.governance.services import reviews as services
from tests import factories
from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def acme():
    owner = factories.make_user(email="rena@acme.test", full_name="Rena Lead")
    org = factories.make_org(name="Acme", slug="acme", owner=owner, time_zone="UTC")
    factories.make_member(org, user=factories.make_user(email="sam@acme.test", full_name="Sam Seller"))
    review = services.review_create(org=org, kind="weekly", today=timezone.localdate())
    services.agenda_add(org=org, review=review, title="Paid social follow-up")
    return review


def test_recording_a_decision_and_an_action_item_in_a_planned_weekly_review(page, acme):
    review = acme
    for name in ("Paid social retargeting", "Spring webinar"):
        Campaign.objects.create(organization=review.organization, name=name, type="webinar")
    log_in(page, "rena@acme.test", factories.PASSWORD)
    page.goto("/o/acme/governance/reviews/")
    page.get_by_role("link", name="Weekly RevOps review").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Weekly RevOps review: Week of")
    expect(page.get_by_text("The numbers below are live")).to_be_visible()
    expect(page.locator(".review-agenda")).to_contain_text("Paid social follow-up")

    page.get_by_label("Decision", exact=True).fill("Call paid social leads within the hour")
    page.get_by_label("Why").fill("They go cold by the next day")
    page.get_by_label("About").select_option(label="Paid social follow-up")
    page.get_by_role("button", name="Record decision").click()
    expect(page.get_by_text("Decision recorded.")).to_be_visible()
    expect(page.locator("table.review-decisions")).to_contain_text("Call paid social leads within the hour")

    # Missing owner: the form is refused with the reason (the browser's own check is bypassed).
    page.get_by_label("Action", exact=True).fill("Set up an hourly alert")
    page.get_by_label("Due").fill("2030-01-15")
    page.locator("#id_action_owner").evaluate("select => select.removeAttribute('required')")
    page.get_by_role("button", name="Assign").click()
    expect(page.get_by_role("alert")).to_have_text("Choose who owns it.")

    page.get_by_label("Action", exact=True).fill("Set up an hourly alert")
    page.get_by_label("Owner").select_option(label="Sam Seller")
    page.get_by_label("Due").fill("2030-01-15")
    page.get_by_label("Follows the decision").select_option(label="Call paid social leads within the hour")
    # The object it concerns is picked by name: the campaign kind, then a few letters.
    page.get_by_label("Concerns").select_option(label="Campaign")
    which = page.get_by_label("Which one")
    expect(which.locator("option")).to_have_count(3)  # the prompt and both campaigns
    page.get_by_label("Find it").fill("paid soc")
    expect(which.locator("option")).to_have_count(2)
    which.select_option(label="Paid social retargeting")
    page.get_by_role("button", name="Assign").click()
    expect(page.get_by_text("Action item assigned.")).to_be_visible()
    row = page.locator("table.review-actions tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Set up an hourly alert")
    expect(row).to_contain_text("Sam Seller")
    expect(row).to_contain_text("15 Jan 2030")
    expect(row.get_by_role("link", name="Campaign: Paid social retargeting")).to_be_visible()

    decision = Decision.objects.get(review=review)
    item = ActionItem.objects.get(review=review)
    assert decision.agenda_item.title == "Paid social follow-up"
    assert decision.rationale == "They go cold by the next day"
    assert (item.owner.user.email, str(item.due), item.decision) == ("sam@acme.test", "2030-01-15", decision)

    # Listed across reviews too, after a reload.
    page.goto("/o/acme/governance/actions/")
    expect(page.locator("table.action-items")).to_contain_text("Set up an hourly alert")
    assert page.console_problems == []
