"""Webhook settings pages: endpoints, secrets, test events and the delivery log."""

import json

import pytest
from django.urls import reverse

from apps.accounts.roles import Role
from apps.integrations import services
from apps.integrations.models import DeliveryAttempt, OutboxEvent, WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db


def url(name, org, *args):
    return reverse(name, args=[org.slug, *args])


@pytest.fixture
def endpoint(org):
    return services.webhook_endpoint_create(org=org, url="https://hooks.acme.test/in", description="CRM")


def _deliveries(org, endpoint, n):
    events = [services.webhook_send_test(org=org, endpoint=endpoint) for _ in range(n)]
    services.outbox_relay()
    return list(WebhookDelivery.objects.filter(event__in=events).order_by("id"))


# --- Access -------------------------------------------------------------------


@pytest.mark.parametrize("role, status", [(Role.ADMIN, 200), (Role.REVOPS_LEAD, 200), (Role.VIEWER, 403)])
def test_webhook_pages_need_webhooks_manage(role, status, client, org, members, endpoint):
    (delivery,) = _deliveries(org, endpoint, 1)
    client.force_login(members[role].user)
    for page in (
        url("settings_webhooks", org),
        url("settings_webhook", org, endpoint.pk),
        url("settings_webhook_delivery", org, delivery.pk),
    ):
        assert client.get(page).status_code == status, page


def test_outsider_gets_404_everywhere(outsider_client, org, endpoint):
    (delivery,) = _deliveries(org, endpoint, 1)
    assert outsider_client.get(url("settings_webhooks", org)).status_code == 404
    assert outsider_client.get(url("settings_webhook", org, endpoint.pk)).status_code == 404
    assert outsider_client.post(url("settings_webhook_delete", org, endpoint.pk)).status_code == 404
    assert outsider_client.get(url("settings_webhook_delivery", org, delivery.pk)).status_code == 404
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()


def test_another_orgs_endpoint_through_our_address_is_404(owner_client, org, other_org):
    theirs = services.webhook_endpoint_create(org=other_org, url="https://globex.test/hook")
    (delivery,) = _deliveries(other_org, theirs, 1)
    assert owner_client.get(url("settings_webhook", org, theirs.pk)).status_code == 404
    assert owner_client.post(url("settings_webhook_rotate", org, theirs.pk)).status_code == 404
    assert owner_client.post(url("settings_webhook_test", org, theirs.pk)).status_code == 404
    assert owner_client.get(url("settings_webhook_delivery", org, delivery.pk)).status_code == 404
    assert owner_client.post(url("settings_webhook_redeliver", org, delivery.pk)).status_code == 404
    assert theirs.secrets.count() == 1
    assert OutboxEvent.objects.filter(endpoint=theirs).count() == 1


# --- Endpoints ----------------------------------------------------------------


def test_empty_list_says_what_to_do(owner_client, org):
    html = owner_client.get(url("settings_webhooks", org)).content.decode()
    assert "No webhook endpoints yet" in html
    assert "lead.created" in html and "A lead was created" in html  # event types with their descriptions


def test_create_endpoint_then_land_on_its_page_with_the_secret(owner_client, org):
    response = owner_client.post(
        url("settings_webhooks", org),
        {
            "url": "https://hooks.acme.test/in",
            "description": "CRM",
            "event_types": ["lead.created", "sla.breached"],
        },
    )
    endpoint = WebhookEndpoint.objects.get(organization=org)
    assert response.status_code == 302
    assert response["Location"] == url("settings_webhook", org, endpoint.pk)
    assert endpoint.event_types == ["lead.created", "sla.breached"]

    page = owner_client.get(response["Location"]).content.decode()
    secret = endpoint.secrets.get().secret
    assert f'<code id="secret-{endpoint.secrets.get().pk}">{secret}</code>' in page
    assert "No deliveries yet" in page

    listing = owner_client.get(url("settings_webhooks", org)).content.decode()
    assert "<code>lead.created</code>" in listing and "badge-ok" in listing


def test_endpoint_with_no_events_subscribes_to_all(owner_client, org, endpoint):
    assert "All events" in owner_client.get(url("settings_webhooks", org)).content.decode()


def test_invalid_url_is_a_field_error(owner_client, org):
    response = owner_client.post(url("settings_webhooks", org), {"url": "ftp://nope", "event_types": []})
    assert response.status_code == 200
    assert "Enter a valid URL." in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_edit_endpoint_and_reactivate(owner_client, org, endpoint):
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        is_active=False, disabled_reason="Disabled after 5 failed attempts in a row.", consecutive_failures=5
    )
    page = owner_client.get(url("settings_webhooks", org)).content.decode()
    assert "disabled" in page and "Disabled after 5 failed attempts in a row." in page

    response = owner_client.post(
        url("settings_webhook", org, endpoint.pk),
        {
            "url": "https://hooks.acme.test/v2",
            "description": "",
            "event_types": ["team.created"],
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.event_types, endpoint.is_active) == (
        "https://hooks.acme.test/v2",
        ["team.created"],
        True,
    )
    assert (endpoint.consecutive_failures, endpoint.disabled_reason) == (0, "")


def test_rotate_keeps_the_old_secret_for_a_while(owner_client, org, endpoint):
    old = endpoint.secrets.get()
    response = owner_client.post(url("settings_webhook_rotate", org, endpoint.pk), follow=True)
    assert response.status_code == 200
    old.refresh_from_db()
    new = endpoint.secrets.exclude(pk=old.pk).get()
    assert old.expires_at is not None and new.expires_at is None
    html = response.content.decode()
    assert f'<code id="secret-{new.pk}">{new.secret}</code>' in html
    assert "Previous secrets, still signing" in html
    assert old.secret not in html  # only a prefix of the retiring secret is shown


def test_send_test_event_targets_this_endpoint(owner_client, org, endpoint):
    response = owner_client.post(url("settings_webhook_test", org, endpoint.pk))
    assert response.status_code == 302
    event = OutboxEvent.objects.get(organization=org)
    assert event.endpoint == endpoint
    assert event.event_type == "webhook.test"


def test_delete_endpoint(owner_client, org, endpoint):
    response = owner_client.post(url("settings_webhook_delete", org, endpoint.pk))
    assert response.status_code == 302
    assert response["Location"] == url("settings_webhooks", org)
    assert not WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()


def test_get_on_an_action_changes_nothing(owner_client, org, endpoint):
    assert owner_client.get(url("settings_webhook_delete", org, endpoint.pk)).status_code == 405
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()


# --- Delivery log ---------------------------------------------------------------


def test_delivery_log_filters_by_status_and_links_each_row(owner_client, org, endpoint):
    ok, failed = _deliveries(org, endpoint, 2)
    WebhookDelivery.objects.filter(pk=ok.pk).update(status="succeeded", last_status_code=200)
    WebhookDelivery.objects.filter(pk=failed.pk).update(
        status="failed", last_status_code=500, last_error="HTTP 500"
    )

    page = owner_client.get(url("settings_webhook", org, endpoint.pk)).content.decode()
    assert url("settings_webhook_delivery", org, ok.pk) in page
    assert url("settings_webhook_delivery", org, failed.pk) in page

    page = owner_client.get(url("settings_webhook", org, endpoint.pk), {"status": "failed"}).content.decode()
    assert url("settings_webhook_delivery", org, failed.pk) in page
    assert url("settings_webhook_delivery", org, ok.pk) not in page
    assert "HTTP 500" in page


def test_delivery_page_shows_payload_and_attempts(owner_client, org, endpoint):
    (delivery,) = _deliveries(org, endpoint, 1)
    DeliveryAttempt.objects.create(
        organization=org,
        delivery=delivery,
        status_code=503,
        duration_ms=42,
        error="HTTP 503",
        response_excerpt="busy",
    )
    response = owner_client.get(url("settings_webhook_delivery", org, delivery.pk))
    html = response.content.decode()
    assert response.status_code == 200
    pretty = json.dumps(delivery.event.payload, indent=2, sort_keys=True)
    assert pretty.replace('"', "&quot;") in html
    assert "42 ms" in html and "HTTP 503" in html and "busy" in html


def test_redeliver_puts_the_delivery_back_in_the_queue(owner_client, org, endpoint):
    (delivery,) = _deliveries(org, endpoint, 1)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed", attempts=8)
    response = owner_client.post(url("settings_webhook_redeliver", org, delivery.pk))
    assert response.status_code == 302
    assert response["Location"] == url("settings_webhook_delivery", org, delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PENDING


def test_delivery_log_is_paginated_with_bounded_queries(
    owner_client, org, endpoint, django_assert_max_num_queries
):
    _deliveries(org, endpoint, 60)
    with django_assert_max_num_queries(9):
        response = owner_client.get(url("settings_webhook", org, endpoint.pk))
    html = response.content.decode()
    assert html.count("/settings/webhooks/deliveries/") == 50
    assert "Page 1 of 2" in html

    second = owner_client.get(url("settings_webhook", org, endpoint.pk), {"page": 2}).content.decode()
    assert second.count("/settings/webhooks/deliveries/") == 10


def test_endpoint_list_query_count_is_bounded(owner_client, org, django_assert_max_num_queries):
    for n in range(20):
        services.webhook_endpoint_create(
            org=org, url=f"https://hooks.acme.test/{n}", event_types=["lead.created"]
        )
    with django_assert_max_num_queries(6):
        response = owner_client.get(url("settings_webhooks", org))
    assert response.content.decode().count("https://hooks.acme.test/") == 20
