"""A RevOps lead starts a KPI tree in Chromium, binds a node to a catalogue metric and sets its target."""

import pytest
from playwright.sync_api import expect

from apps.measurement.services import rollup
from apps.records import services as records
from apps.strategy.models import KpiNode, KpiTarget
from tests import factories
from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def acme():
    """Three leads captured today, rolled up."""
    owner = factories.make_user(email="rena@acme.test", full_name="Rena Lead")
    org = factories.make_org(name="Acme", slug="acme", owner=owner, time_zone="UTC")
    for n in range(3):
        records.lead_create(org=org, email=f"lead{n}@example.test")
    rollup.rollup(org, full=True)
    return org


def test_a_revops_lead_binds_a_node_to_a_metric_and_sees_its_status(page, acme):
    log_in(page, "rena@acme.test", factories.PASSWORD)
    page.goto("/o/acme/strategy/kpi/")
    expect(page.get_by_role("heading", name="No KPI tree yet")).to_be_visible()
    page.get_by_role("link", name="Add the first node").click()

    page.get_by_label("Name:", exact=True).fill("Leads captured")
    page.get_by_label("Metric:", exact=True).select_option(label="Leads")
    page.get_by_label("Kind:", exact=True).select_option("leading")
    page.get_by_role("button", name="Save node").click()

    expect(page.get_by_role("heading", name="Leads captured", exact=True)).to_be_visible()
    node = KpiNode.objects.get(organization=acme, name="Leads captured")
    assert (node.metric, node.kind, node.direction, node.owner) == ("leads", "leading", "higher", None)
    expect(page.locator(".kpi-status")).to_have_text("No data")  # no target yet
    page.get_by_label("Value:").fill("2")
    page.get_by_role("button", name="Set target").click()
    expect(page.get_by_text("Target for")).to_be_visible()
    assert KpiTarget.objects.get(node=node).value == 2

    page.get_by_role("link", name="← KPI tree").click()
    tree_node = page.locator("li.kpi-node").first
    expect(tree_node).to_contain_text("Leads captured")
    expect(tree_node).to_contain_text("3 of 2")  # three leads today against a target of two this month
    expect(tree_node.locator(".kpi-status")).to_have_text("On track")
    expect(tree_node.locator(".kpi-no-owner")).to_have_text("No owner")
    expect(tree_node.locator("svg.kpi-spark")).to_be_visible()

    # Rebind it to another catalogue metric from the edit page.
    tree_node.get_by_role("link", name="Leads captured").click()
    page.get_by_role("link", name="Edit node").click()
    page.get_by_label("Metric:", exact=True).select_option(label="MQLs")
    page.get_by_role("button", name="Save node").click()
    expect(page.get_by_role("link", name="MQLs")).to_be_visible()
    node.refresh_from_db()
    assert node.metric == "mqls"
    assert page.console_problems == []
