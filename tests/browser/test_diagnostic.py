"""A RevOps lead opens the growth diagnostic from the weekly review and follows a recommendation to the page
that fixes it."""

import re

import pytest
from playwright.sync_api import expect

from apps.measurement.models import DiagnosticSnapshot
from tests import factories
from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def acme():
    owner = factories.make_user(email="rena@acme.test", full_name="Rena Lead")
    return factories.make_org(name="Acme", slug="acme", owner=owner, time_zone="UTC")


def test_from_the_weekly_review_to_the_diagnostic_and_on_to_the_fix(page, acme):
    log_in(page, "rena@acme.test", factories.PASSWORD)
    page.goto("/o/acme/measurement/weekly/")
    page.get_by_role("link", name="Growth diagnostic: is the company strong on strategy").click()

    expect(page.get_by_role("heading", name="Growth diagnostic", exact=True)).to_be_visible()
    expect(
        page.get_by_role("heading", name="Where you stand: Neither strategy nor execution yet")
    ).to_be_visible()
    expect(page.locator(".diag-here")).to_have_attribute("data-quadrant", "neither")
    # The page took today's snapshot; its trend chart is drawn from it.
    assert DiagnosticSnapshot.objects.filter(organization=acme).count() == 1
    expect(page.locator('[data-chart="diagnostic-trend"] .main-svg').first).to_be_attached()
    kpi_row = page.locator("tr[data-key='strategy.kpi_tree']")
    expect(kpi_row).to_contain_text("0/2")
    expect(kpi_row).to_contain_text("no evidence")

    recommendation = page.locator(".diag-recommendations li[data-key='strategy.kpi_tree']")
    recommendation.get_by_role("link", name="Give the KPI tree targets and owners").click()
    expect(page).to_have_url(re.compile(r"/o/acme/strategy/kpi/$"))
    expect(page.get_by_role("heading", name="No KPI tree yet")).to_be_visible()
    assert page.console_problems == []
