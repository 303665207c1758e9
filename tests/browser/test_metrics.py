"""A RevOps lead reads a metric in Chromium: the catalogue, the chart, a grouping and the previous period."""

import datetime
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.measurement.services import rollup
from apps.records import services as record_services
from tests import factories
from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def acme():
    lead = factories.make_user(email="rena@acme.test", full_name="Rena Lead")
    org = factories.make_org(name="Acme", slug="acme", owner=lead, time_zone="UTC")
    for i, channel in enumerate(["Paid Search", "Paid Search", "Events"]):
        record_services.lead_create(org=org, email=f"lead{i}@x.test", source=channel)
    rollup.rollup(org, full=True)
    return org


def test_a_revops_lead_charts_leads_by_source_against_the_previous_period(page, acme):
    log_in(page, "rena@acme.test", factories.PASSWORD)
    page.goto("/o/acme/measurement/")
    expect(page.get_by_role("heading", name="Metrics and definitions")).to_be_visible()
    page.locator("#leads").get_by_role("link", name="Leads").click()

    expect(page.get_by_role("heading", name="Leads")).to_be_visible()
    expect(page.locator(".kpi-value")).to_have_text("3")
    # The chart is drawn by the bundled plotly, from the JSON block the server embedded.
    expect(page.locator("[data-chart] .main-svg").first).to_be_visible()

    page.get_by_label("Range").select_option("last_30")
    page.get_by_label("By", exact=True).select_option("day")
    page.get_by_label("Group by").select_option("campaign")
    page.get_by_label("Compare with the previous period").check()
    page.get_by_role("button", name="Show").click()

    today = timezone.localdate(timezone.now(), datetime.UTC).isoformat()
    row = page.locator("table.metric-series tbody tr", has_text=today)
    expect(row).to_have_count(1)  # one campaign (none), today
    expect(row.locator("td.num").first).to_have_text("3")
    expect(page.get_by_role("link", name="Export CSV")).to_have_attribute(
        "href", re.compile("compare=previous_period")
    )
