"""A person in Chromium: log in, switch organisation, create an API key, add a webhook."""

import re

import pytest
from playwright.sync_api import expect

from apps.accounts.models import ApiKey
from apps.integrations.models import WebhookEndpoint
from tests import factories
from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def admin_in_two_orgs():
    admin = factories.make_user(email="ada@acme.test", full_name="Ada Admin")
    first = factories.make_org(name="Acme", slug="acme", owner=admin)
    second = factories.make_org(name="Acme Europe", slug="acme-eu", owner=admin)
    return admin, first, second


def test_log_in_switch_org_create_api_key_and_webhook(page, admin_in_two_orgs):
    admin, first, second = admin_in_two_orgs
    log_in(page, admin.email, factories.PASSWORD)
    expect(page).to_have_url(re.compile(r"/o/acme/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Acme")

    # The switcher lists both organisations; pick the other one.
    page.locator(".org-switcher summary").click()
    page.get_by_role("link", name=re.compile("Acme Europe")).click()
    expect(page).to_have_url(re.compile(r"/o/acme-eu/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Acme Europe")

    # Settings → API keys: create one and see its secret exactly once.
    page.get_by_role("link", name="Settings").click()
    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Name").fill("CRM sync")
    page.get_by_role("checkbox", name="Read").check()
    page.get_by_role("checkbox", name="Write").check()
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("#new-api-key").inner_text().strip()
    assert secret.startswith("rvk_")
    expect(page.get_by_text("it will not be shown again")).to_be_visible()
    key = ApiKey.objects.get(organization=second, name="CRM sync")
    assert key.matches(secret.split("_", 2)[2]) and key.scopes == ["read", "write"]
    page.goto(page.url)  # coming back later: the secret is gone for good
    expect(page.locator("#new-api-key")).to_have_count(0)
    assert secret not in page.content()
    expect(page.get_by_role("cell", name="CRM sync", exact=True)).to_be_visible()

    # Webhooks: add an endpoint for one event type.
    page.get_by_role("link", name="Webhooks").click()
    page.get_by_label("URL").fill("https://hooks.example.test/revops")
    page.get_by_label("Description").fill("Data warehouse")
    page.get_by_label(re.compile("lead.created")).check()
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_text("https://hooks.example.test/revops").first).to_be_visible()
    endpoint = WebhookEndpoint.objects.get(organization=second)
    assert endpoint.event_types == ["lead.created"]
    assert not WebhookEndpoint.objects.filter(organization=first).exists()
    expect(page.get_by_text(endpoint.secrets.get().secret)).to_be_visible()

    # Nothing on the way tripped the Content-Security-Policy or threw.
    assert page.console_problems == []


def test_webhook_page_draws_its_delivery_chart(page, admin_in_two_orgs):
    from apps.integrations import services
    from apps.integrations.models import DeliveryAttempt

    admin, first, _ = admin_in_two_orgs
    endpoint = services.webhook_endpoint_create(org=first, url="https://hooks.example.test/x")
    services.webhook_send_test(org=first, endpoint=endpoint)
    (delivery_id,) = services.outbox_relay()
    for code in (200, 500, 200):
        DeliveryAttempt.objects.create(organization=first, delivery_id=delivery_id, status_code=code)
    log_in(page, admin.email, factories.PASSWORD)
    page.goto(f"/o/acme/settings/webhooks/{endpoint.pk}/")
    chart = page.locator("[data-chart='delivery-outcomes']")
    expect(chart.locator("svg.main-svg").first).to_be_visible()
    expect(chart.get_by_text("Delivery attempts, last 14 days")).to_be_visible()
    assert page.console_problems == []
