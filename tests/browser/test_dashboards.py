"""The review dashboards in Chromium: change a filter, see the numbers change, open what is behind one."""

import os
import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from apps.accounts.models import User
from tests import factories
from tests.browser.conftest import log_in
from tests.measurement.test_dashboards_fixtures import build

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def fx():
    owner = factories.make_user(email="rena@acme.test", full_name="Rena Lead")
    return build(owner_user=owner)


def card(page, key):
    return page.locator(f'[data-indicator="{key}"] .kpi-value')


def test_weekly_review_filters_and_drill_down(page, fx):
    page.set_default_navigation_timeout(30_000)  # the dashboards compute on first view; CI machines are busy
    log_in(page, "rena@acme.test", factories.PASSWORD)
    url = reverse("measurement_weekly", args=[fx.org.slug])
    page.goto(f"{url}?from=2026-03-09&to=2026-03-15")
    expect(page.get_by_role("heading", name="Weekly RevOps review")).to_be_visible()
    expect(card(page, "new_leads")).to_have_text("3")
    expect(card(page, "mqls")).to_have_text("2")
    expect(card(page, "pipeline_created")).to_have_text("20,000")
    expect(page.locator('[data-chart="chart-data-volumes"] .main-svg').first).to_be_attached()
    if os.environ.get("DASHBOARD_SCREENSHOT"):
        page.screenshot(path=os.environ["DASHBOARD_SCREENSHOT"], full_page=True)
    # Every chart saves as PNG from its toolbar, in the browser.
    png = page.locator('[data-chart="chart-data-volumes"] .modebar-btn[data-title="Download plot as a PNG"]')
    expect(png).to_be_attached()
    # Printed, the page keeps the numbers and drops the navigation and the filter bar.
    page.emulate_media(media="print")
    expect(page.locator("form.dash-filters")).to_be_hidden()
    expect(page.locator("nav.subnav")).to_be_hidden()
    expect(card(page, "mqls")).to_be_visible()
    page.emulate_media(media="screen")

    # Narrow to Alice's leads: the address keeps the filter (bookmarkable) and the numbers change.
    page.get_by_label("Owner").select_option(label="Alice Hunter")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(rf"[?&]owner={fx.alice.pk}(&|$)"))
    expect(card(page, "new_leads")).to_have_text("1")
    expect(card(page, "mqls")).to_have_text("1")
    expect(card(page, "pipeline_created")).to_have_text("20,000")

    # The MQL count links to the leads behind it: Alice's lead that first became an MQL that week.
    indicators = page.locator('table[data-table="indicators"]')
    indicators.get_by_role("row", name="MQLs").get_by_role("link", name="1", exact=True).first.click()
    expect(page).to_have_url(re.compile(r"/records/leads/\?.*entered_stage=mql"))
    expect(page.get_by_text("c@x.test").first).to_be_visible()
    expect(page.get_by_text("b@x.test")).to_have_count(0)
    assert not page.console_problems, page.console_problems


def test_the_reject_rate_opens_the_offers_behind_it(page):
    from tests.execution.test_offers import build as build_offers

    page.set_default_navigation_timeout(30_000)
    factories.make_user(email="oli@acme.test", full_name="Oli Lead")
    org = build_offers(owner_user=User.objects.get(email="oli@acme.test"))
    log_in(page, "oli@acme.test", factories.PASSWORD)
    page.goto(f"{reverse('measurement_weekly', args=[org.slug])}?from=2026-03-01&to=2026-03-15")
    expect(card(page, "reject_rate")).to_have_text("25.0%")
    indicators = page.locator('table[data-table="indicators"]')
    indicators.get_by_role("row", name="Reject rate").get_by_role("link").first.click()
    expect(page).to_have_url(re.compile(r"/reports/offers/\?.*from=2026-03-01&to=2026-03-15"))
    expect(page.locator("#offer-totals")).to_contain_text("1 of 4 rejected")
    expect(page.locator("#offers tbody tr")).to_have_count(4)
    expect(page.locator("#offers")).to_contain_text("Wrong territory")
    assert not page.console_problems, page.console_problems


def test_quarterly_and_funnel_pages_draw_their_charts(page, fx):
    page.set_default_navigation_timeout(30_000)  # the dashboards compute on first view; CI machines are busy
    log_in(page, "rena@acme.test", factories.PASSWORD)
    for name, heading, chart in [
        ("measurement_quarterly", "Quarterly growth review", "lead_flow"),
        ("measurement_funnel", "Funnel", "time_distribution"),
    ]:
        page.goto(
            f"{reverse(name, args=[fx.org.slug])}?from=2026-03-01&to=2026-03-15&compare=previous_period"
        )
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        expect(page.locator(f'[data-chart="chart-data-{chart}"] .main-svg').first).to_be_attached()
        if os.environ.get("DASHBOARD_SCREENSHOT"):
            page.screenshot(
                path=os.environ["DASHBOARD_SCREENSHOT"].replace(".png", f"-{chart}.png"), full_page=True
            )
    assert not page.console_problems, page.console_problems


def test_pipeline_waterfall_draws_balances_and_opens_a_bucket(page, owner):
    """The hand-built twelve-deal history of tests/measurement/test_pipeline_waterfall.py, in May 2026."""
    from apps.measurement.services import rollup
    from tests.measurement.test_pipeline_waterfall import build_history

    org = build_history(owner)
    rollup.rollup(org, full=True)
    page.set_default_navigation_timeout(30_000)
    log_in(page, owner.email, factories.PASSWORD)
    page.goto(f"{reverse('measurement_pipeline', args=[org.slug])}?from=2026-05-01&to=2026-05-31")
    expect(page.get_by_role("heading", name=re.compile("Pipeline waterfall, FY2026 Q2"))).to_be_visible()
    expect(page.locator('[data-chart="chart-data-waterfall"] .main-svg').first).to_be_attached()
    table = page.locator('table[data-table="waterfall"]')
    expect(table.get_by_role("row", name=re.compile("Open at end"))).to_contain_text("2,270")
    # The pushed amount lists the two deals whose close date left the quarter.
    table.get_by_role("row", name=re.compile("Pushed")).get_by_role("link").first.click()
    expect(page).to_have_url(re.compile(r"[?&]bucket=pushed"))
    deals = page.locator('table[data-table="opportunities"]')
    expect(deals.get_by_role("link", name="D", exact=True)).to_be_visible()
    expect(deals.get_by_role("link", name="L", exact=True)).to_be_visible()
    expect(deals.get_by_role("link", name="A", exact=True)).to_have_count(0)
    assert not page.console_problems, page.console_problems
