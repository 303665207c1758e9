"""A RevOps lead changes routing in Chromium: a new rule in the draft, a simulation, then publishing."""

import pytest
from playwright.sync_api import expect

from apps.accounts.roles import Role
from apps.execution.models import Assignment, PoolMember, RoutingPolicyVersion, RoutingPool
from apps.execution.services import policies
from apps.records import services as record_services
from tests import factories
from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def acme():
    """US leads go to Evan's queue, anything else falls back to it too; Ema's EMEA queue is unused."""
    lead = factories.make_user(email="rena@acme.test", full_name="Rena Lead")
    org = factories.make_org(name="Acme", slug="acme", owner=lead)
    factories.make_member(org, role=Role.REVOPS_LEAD, user=factories.make_user(email="x@acme.test"))
    evan = factories.make_member(
        org, role=Role.SALES_REP, user=factories.make_user(email="evan@acme.test", full_name="Evan Rep")
    )
    ema = factories.make_member(
        org, role=Role.SALES_REP, user=factories.make_user(email="ema@acme.test", full_name="Ema Rep")
    )
    everyone = RoutingPool.objects.create(organization=org, name="Everyone")
    emea = RoutingPool.objects.create(organization=org, name="EMEA")
    PoolMember.objects.create(organization=org, pool=everyone, membership=evan)
    PoolMember.objects.create(organization=org, pool=emea, membership=ema)
    policy = policies.policy_for(org)
    us_rule = {
        "name": "United States",
        "conditions": [{"field": "country", "op": "equals", "value": "US"}],
        "action": {"type": "pool", "pool": everyone.pk},
    }
    policies.draft_update(org=org, policy=policy, rules=[us_rule], fallback_pool=everyone)
    policies.policy_publish(org=org, policy=policy, actor=lead, note="First rules")
    return {"org": org, "evan": evan, "ema": ema}


def test_a_revops_lead_adds_a_rule_simulates_it_and_publishes(page, acme):
    org, evan, ema = acme["org"], acme["evan"], acme["ema"]
    # Transactional test: routed on commit, as in production — today to Evan, by the fallback.
    jean = record_services.lead_create(org=org, email="jean@paris.test", first_name="Jean", country="FR")
    assert Assignment.objects.get(lead=jean).assignee == evan

    log_in(page, "rena@acme.test", factories.PASSWORD)
    page.goto("/o/acme/routing/")
    page.get_by_role("link", name="Add a rule").first.click()
    page.get_by_label("Name").fill("France to EMEA")
    # The condition rows come from the formset's template row, added by app.js.
    page.get_by_role("button", name="Add a condition").click()
    row = page.locator("tbody[data-rows] tr").last
    row.get_by_label("Field").select_option("country")
    row.get_by_label("Operator").select_option("equals")
    row.get_by_label("Value").fill("FR")
    page.get_by_label("Action").select_option("pool")
    page.get_by_label("Queue").select_option(label="EMEA")
    page.get_by_role("button", name="Save in the draft").click()
    expect(page.locator("body")).to_contain_text("France to EMEA")
    assert PoolMember.objects.filter(membership=ema).get().assigned_count == 0  # nothing routed yet

    # The simulator runs the draft on Jean without writing anything: Ema would get her.
    page.goto("/o/acme/routing/publish/")
    page.get_by_role("link", name="Simulate before publishing").click()
    page.get_by_label("One lead").fill("jean@paris.test")
    page.get_by_role("button", name="Simulate").click()
    verdict = page.locator("#one")
    expect(verdict).to_contain_text("Ema Rep")
    expect(verdict).to_contain_text("France to EMEA")
    assert Assignment.objects.filter(organization=org).count() == 1

    # Publishing shows the diff against version 1 and asks why.
    page.goto("/o/acme/routing/publish/")
    expect(page.locator("body")).to_contain_text("+2. France to EMEA")
    page.get_by_label("Change note").fill("French leads to the EMEA queue")
    page.get_by_role("button", name="Publish version 2").click()
    published = RoutingPolicyVersion.objects.get(policy__organization=org, status="published")
    assert (published.number, published.note) == (2, "French leads to the EMEA queue")
    assert published.published_by.email == "rena@acme.test"

    # From now on a French lead goes to Ema.
    marie = record_services.lead_create(org=org, email="marie@lyon.test", first_name="Marie", country="FR")
    assert Assignment.objects.get(lead=marie).assignee == ema
