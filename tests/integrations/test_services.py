"""Outbox relay, signing, retries and auto-disable, without a worker."""

import json
from datetime import timedelta
from unittest import mock

import pytest
import requests
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from apps.audit.models import SecurityEvent
from apps.core.errors import ServiceError
from apps.integrations import services
from apps.integrations.models import OutboxEvent, WebhookDelivery
from apps.integrations.signing import sign_headers

pytestmark = pytest.mark.django_db


class FakeResponse:
    def __init__(self, status_code, text="ok"):
        self.status_code = status_code
        self.text = text


@pytest.fixture
def endpoint(org):
    return services.webhook_endpoint_create(
        org=org, url="https://hooks.example.test/in", event_types=["team.created"]
    )


def _emit(org, event_type="team.created"):
    return services.outbox_emit(org=org, event_type=event_type, data={"name": "Pod"})


def test_signature_verifies_with_the_standard_webhooks_library():
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"hello":"world"}'
    headers = sign_headers(
        secrets=[secret], msg_id="evt_1", timestamp=int(timezone.now().timestamp()), body=body
    )
    assert Webhook(secret).verify(body, headers) == {"hello": "world"}


def test_rotation_signs_with_old_and_new_secret_for_a_day(org, endpoint):
    old = endpoint.secrets.get().secret
    new = services.webhook_secret_rotate(org=org, endpoint=endpoint).secret
    current = [s.secret for s in endpoint.secrets.all() if s.is_current]
    assert sorted(current) == sorted([old, new])
    body = b"{}"
    headers = sign_headers(
        secrets=current, msg_id="evt_2", timestamp=int(timezone.now().timestamp()), body=body
    )
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(body, headers)
    Webhook(new).verify(body, headers)
    expiring = endpoint.secrets.exclude(secret=new).get()
    assert timedelta(hours=23) < expiring.expires_at - timezone.now() <= timedelta(hours=24)


def test_emit_only_relays_after_commit_and_only_to_subscribers(org, endpoint):
    other = services.webhook_endpoint_create(
        org=org, url="https://b.example.test/", event_types=["lead.created"]
    )
    everything = services.webhook_endpoint_create(org=org, url="https://c.example.test/")
    _emit(org)
    delivery_ids = services.outbox_relay()
    deliveries = WebhookDelivery.objects.filter(pk__in=delivery_ids)
    assert {d.endpoint_id for d in deliveries} == {endpoint.pk, everything.pk}
    assert other.pk not in {d.endpoint_id for d in deliveries}
    assert services.outbox_relay() == []  # relayed once


def test_a_rolled_back_change_emits_nothing(org, endpoint):
    with pytest.raises(RuntimeError), transaction.atomic():
        _emit(org)
        raise RuntimeError("the change failed")
    assert not OutboxEvent.objects.exists()


def test_redis_down_at_commit_loses_nothing(org, endpoint, django_capture_on_commit_callbacks):
    redis_down = mock.patch("apps.integrations.tasks.relay_outbox.delay", side_effect=ConnectionError("down"))
    with redis_down, django_capture_on_commit_callbacks(execute=True):
        event = _emit(org)
    event.refresh_from_db()
    assert event.relayed_at is None  # still waiting in the outbox
    assert len(services.outbox_relay()) == 1  # the periodic sweep relays it


def test_successful_delivery(org, endpoint):
    event = _emit(org)
    (delivery_id,) = services.outbox_relay()
    with mock.patch("apps.integrations.services.requests.post", return_value=FakeResponse(204)) as post:
        assert services.webhook_deliver(delivery_id=delivery_id) == "succeeded"
    sent_body = post.call_args.kwargs["data"]
    sent_headers = post.call_args.kwargs["headers"]
    assert json.loads(sent_body)["id"] == event.id
    Webhook(endpoint.secrets.get().secret).verify(sent_body, sent_headers)
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert delivery.status == "succeeded" and delivery.attempts == 1 and delivery.last_status_code == 204
    assert delivery.attempt_log.count() == 1
    # A second run (a duplicate task) does nothing.
    assert services.webhook_deliver(delivery_id=delivery_id) == "skipped"


def test_failure_is_retried_later_with_backoff(org, endpoint):
    _emit(org)
    (delivery_id,) = services.outbox_relay()
    with mock.patch("apps.integrations.services.requests.post", return_value=FakeResponse(500, "boom")):
        assert services.webhook_deliver(delivery_id=delivery_id) == "failed"
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert delivery.status == "pending"
    assert delivery.last_status_code == 500 and delivery.last_error == "HTTP 500"
    wait = delivery.next_attempt_at - timezone.now()
    assert timedelta(seconds=1) < wait <= timedelta(seconds=5)
    # Not due yet: neither the sweep nor a stray task sends it.
    assert delivery_id not in services.deliveries_due()
    assert services.webhook_deliver(delivery_id=delivery_id) == "skipped"


def test_network_errors_are_recorded(org, endpoint):
    _emit(org)
    (delivery_id,) = services.outbox_relay()
    with mock.patch("apps.integrations.services.requests.post", side_effect=requests.ConnectTimeout("slow")):
        services.webhook_deliver(delivery_id=delivery_id)
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert "ConnectTimeout" in delivery.last_error and delivery.last_status_code is None


def test_backoff_grows_exponentially_and_is_capped():
    for attempts, ceiling in [(1, 5), (2, 10), (3, 20), (6, 160)]:
        for _ in range(20):
            delay = services.retry_delay(attempts).total_seconds()
            assert ceiling / 2 <= delay <= ceiling
    assert services.retry_delay(40).total_seconds() <= 6 * 3600


@override_settings(WEBHOOK_MAX_ATTEMPTS=2, WEBHOOK_DISABLE_AFTER_FAILURES=3)
def test_gives_up_after_max_attempts_and_disables_a_failing_endpoint(org, endpoint):
    for _ in range(2):
        _emit(org)
    delivery_ids = services.outbox_relay()
    with mock.patch("apps.integrations.services.requests.post", return_value=FakeResponse(503)):
        for delivery_id in delivery_ids:
            services.webhook_deliver(delivery_id=delivery_id)
            WebhookDelivery.objects.filter(pk=delivery_id).update(next_attempt_at=timezone.now())
            services.webhook_deliver(delivery_id=delivery_id)
    statuses = set(WebhookDelivery.objects.filter(pk__in=delivery_ids).values_list("status", flat=True))
    assert statuses == {"failed"}
    endpoint.refresh_from_db()
    assert endpoint.is_active is False and "failed attempts" in endpoint.disabled_reason
    assert SecurityEvent.objects.filter(kind="webhook_disabled", organization=org).count() == 1
    # A disabled endpoint gets no new deliveries.
    _emit(org)
    assert services.outbox_relay() == []


def test_redeliver_sends_the_same_event_again(org, endpoint):
    _emit(org)
    (delivery_id,) = services.outbox_relay()
    with mock.patch("apps.integrations.services.requests.post", return_value=FakeResponse(200)) as post:
        services.webhook_deliver(delivery_id=delivery_id)
        delivery = WebhookDelivery.objects.get(pk=delivery_id)
        services.webhook_redeliver(org=org, delivery=delivery)
        assert services.webhook_deliver(delivery_id=delivery_id) == "succeeded"
    ids = [call.kwargs["headers"]["webhook-id"] for call in post.call_args_list]
    assert len(ids) == 2 and ids[0] == ids[1]


def test_test_event_goes_only_to_its_endpoint(org, endpoint):
    other = services.webhook_endpoint_create(org=org, url="https://b.example.test/")
    services.webhook_send_test(org=org, endpoint=endpoint)
    deliveries = WebhookDelivery.objects.filter(pk__in=services.outbox_relay())
    assert [d.endpoint_id for d in deliveries] == [endpoint.pk]
    assert other.pk not in [d.endpoint_id for d in deliveries]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"url": "not a url"}, "url"),
        ({"url": "ftp://x.test/"}, "url"),
        ({"url": "https://x.test/", "event_types": ["nope"]}, "event_types"),
    ],
)
def test_endpoint_input_errors_name_the_field(org, fields, field):
    with pytest.raises(ServiceError) as error:
        services.webhook_endpoint_create(org=org, **fields)
    assert error.value.field == field


def test_unknown_event_type_is_a_programming_error(org):
    with pytest.raises(ValueError):
        services.outbox_emit(org=org, event_type="made.up", data={})


def test_events_of_another_org_never_reach_this_orgs_endpoints(org, endpoint, other_org):
    services.webhook_endpoint_create(org=other_org, url="https://globex.test/")
    _emit(other_org)
    deliveries = WebhookDelivery.objects.filter(pk__in=services.outbox_relay())
    assert [d.organization_id for d in deliveries] == [other_org.pk]
    assert not WebhookDelivery.objects.filter(endpoint=endpoint).exists()


def test_attempt_outcomes_by_day_in_the_org_time_zone(org, endpoint):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from apps.integrations.models import DeliveryAttempt
    from apps.integrations.selectors import attempt_outcomes_by_day

    org.time_zone = "America/New_York"
    org.save()
    _emit(org)
    (delivery_id,) = services.outbox_relay()
    ny = ZoneInfo("America/New_York")
    today = timezone.now().astimezone(ny).replace(hour=12, minute=0, second=0, microsecond=0)
    # 01:30 UTC of "today + 1" is still "today" in New York (UTC-5 / UTC-4).
    late_evening = datetime(today.year, today.month, today.day, 23, 30, tzinfo=ny)
    rows = [(today, 200), (today, 500), (late_evening, None), (today - timedelta(days=2), 204)]
    for when, code in rows:
        attempt = DeliveryAttempt.objects.create(
            organization=org, delivery_id=delivery_id, status_code=code, duration_ms=5
        )
        DeliveryAttempt.objects.filter(pk=attempt.pk).update(created_at=when)
    outcomes = attempt_outcomes_by_day(org=org, endpoint=endpoint, days=14)
    assert outcomes["days"][-1] == today.date()
    assert outcomes["succeeded"][-1] == 1 and outcomes["failed"][-1] == 2
    assert outcomes["succeeded"][-3] == 1
    assert sum(outcomes["succeeded"]) == 2 and sum(outcomes["failed"]) == 2
