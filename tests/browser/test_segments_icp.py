"""A RevOps lead builds the ICP in Chromium and reads its conversion against everyone else."""

import pytest
from playwright.sync_api import expect

from apps.accounts.roles import Role
from apps.records import services as records
from apps.strategy.models import Segment
from tests import factories
from tests.browser.conftest import log_in
from tests.workers import Worker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def acme():
    """Two French leads (one reached MQL) and one American lead that reached MQL."""
    owner = factories.make_user(email="rena@acme.test", full_name="Rena Lead")
    org = factories.make_org(name="Acme", slug="acme", owner=owner)
    factories.make_member(org, role=Role.REVOPS_LEAD, user=factories.make_user(email="x@acme.test"))
    for email, country, mql in (
        ("a@fr.test", "FR", True),
        ("b@fr.test", "FR", False),
        ("c@us.test", "US", True),
    ):
        lead = records.lead_create(org=org, email=email, country=country)
        if mql:
            records.lead_change_stage(org=org, lead=lead, to="mql")
    return org


@pytest.fixture
def worker():
    """Saving a segment hands its full recompute to a worker."""
    worker = Worker().start()
    yield worker
    worker.stop()


def test_a_revops_lead_builds_the_icp_and_sees_its_conversion(page, acme, worker):
    log_in(page, "rena@acme.test", factories.PASSWORD)
    page.goto("/o/acme/strategy/segments/")
    expect(page.get_by_role("heading", name="Define your ICP")).to_be_visible()
    page.get_by_role("link", name="Define your ICP").click()

    page.get_by_label("Name:", exact=True).fill("Ideal customer profile")
    page.get_by_label("Key:", exact=True).fill("icp")
    page.get_by_label("This is our ICP").check()
    page.get_by_label("Threshold").fill("10")
    page.get_by_label("Rule name").fill("In France")
    page.get_by_label("Points").fill("10")
    row = page.locator("tbody[data-rows] tr").first
    row.get_by_label("Field").select_option("country")
    row.get_by_label("Operator").select_option("equals")
    row.get_by_label("Value").fill("FR")
    page.get_by_role("button", name="Save segment").click()

    expect(page.get_by_role("heading", name="Ideal customer profile")).to_be_visible()
    # The worker recomputes; the page follows it and refreshes when it is done.
    expect(page.get_by_text("Last full recompute")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Recomputing")).to_have_count(0, timeout=30_000)
    segment = Segment.objects.get(organization=acme, key="icp")
    assert segment.is_icp and segment.member_count == 2
    table = page.locator("table.comparison")
    expect(table.get_by_role("row", name="Leads")).to_contain_text("2")
    # Members: 1 of 2 reached MQL; everyone else: 1 of 1.
    expect(table.get_by_role("row", name="Reached MQL")).to_contain_text("50.0 %")
    expect(table.get_by_role("row", name="Reached MQL")).to_contain_text("100.0 %")
    assert page.console_problems == []
