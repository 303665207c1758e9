"""Emitting events and delivering them to webhook endpoints.

Delivery is at-least-once with a stable `webhook-id` per event: a worker
killed after the receiver got the request but before the outcome was stored
sends the same event again with the same id, and the receiver's de-duplication
by that id makes processing exactly-once (the Standard Webhooks contract).
"""

import json
import logging
import random
import time
from datetime import timedelta

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.audit.models import SecurityEvent
from apps.audit.services import security_event_record
from apps.core.errors import ServiceError

from .events import EVENT_TYPES
from .models import DeliveryAttempt, OutboxEvent, WebhookDelivery, WebhookEndpoint, WebhookSecret
from .signing import sign_headers

logger = logging.getLogger(__name__)

ROTATION_OVERLAP = timedelta(hours=24)
RELAY_BATCH = 200


def outbox_emit(*, org, event_type: str, data: dict, endpoint: WebhookEndpoint | None = None) -> OutboxEvent:
    """Record an event inside the caller's transaction; it is relayed after commit."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"Unknown event type {event_type!r}; add it to apps.integrations.events.")
    event = OutboxEvent(organization=org, event_type=event_type, endpoint=endpoint, payload={})
    event.payload = {
        "id": event.id,
        "type": event_type,
        "organization": org.slug,
        "created_at": timezone.now().isoformat(),
        "data": data,
    }
    event.save(force_insert=True)
    transaction.on_commit(_enqueue_relay)
    return event


def _enqueue_relay():
    from .tasks import relay_outbox

    try:
        relay_outbox.delay()
    except Exception:  # Redis down: the beat sweep relays the row later.
        logger.warning(
            "could not enqueue the outbox relay; the periodic sweep will pick it up", exc_info=True
        )


def outbox_relay(*, batch: int = RELAY_BATCH) -> list[int]:
    """Turn committed, unrelayed events into deliveries; return the new delivery ids.

    Rows are claimed with FOR UPDATE SKIP LOCKED so any number of workers can
    relay at once without handing out the same event twice.
    """
    with transaction.atomic():
        events = list(
            OutboxEvent.objects.filter(relayed_at__isnull=True)
            .order_by("created_at")
            .select_for_update(skip_locked=True)[:batch]
        )
        if not events:
            return []
        org_ids = {e.organization_id for e in events}
        endpoints = list(WebhookEndpoint.objects.filter(organization_id__in=org_ids, is_active=True))
        deliveries = []
        for event in events:
            for endpoint in endpoints:
                if endpoint.organization_id != event.organization_id:
                    continue
                if event.endpoint_id and event.endpoint_id != endpoint.pk:
                    continue
                if event.endpoint_id is None and not endpoint.wants(event.event_type):
                    continue
                deliveries.append(
                    WebhookDelivery(organization_id=event.organization_id, endpoint=endpoint, event=event)
                )
        # The row locks guarantee an event is relayed once, so no conflict can arise here.
        created = WebhookDelivery.objects.bulk_create(deliveries)
        OutboxEvent.objects.filter(pk__in=[e.pk for e in events]).update(relayed_at=timezone.now())
    return [d.pk for d in created]


def deliveries_due(*, limit: int = 500) -> list[int]:
    now = timezone.now()
    return list(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
        .exclude(claimed_until__gt=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def _claim(delivery_id: int) -> WebhookDelivery | None:
    """Take the delivery for this worker with one conditional UPDATE, or None."""
    now = timezone.now()
    claimed = (
        WebhookDelivery.objects.filter(
            pk=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
        )
        .exclude(claimed_until__gt=now)
        .update(
            claimed_until=now + timedelta(seconds=settings.WEBHOOK_CLAIM_SECONDS), attempts=F("attempts") + 1
        )
    )
    if not claimed:
        return None
    return WebhookDelivery.objects.select_related("endpoint", "event").get(pk=delivery_id)


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff with full jitter: up to 5 s, 10 s, 20 s ... capped at 6 h."""
    ceiling = min(5 * 2 ** (attempts - 1), 6 * 3600)
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def webhook_deliver(*, delivery_id: int) -> str:
    """Attempt one delivery. Safe to call twice: the claim lets only one through."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return "skipped"
    endpoint = delivery.endpoint
    body = json.dumps(delivery.event.payload, separators=(",", ":"), sort_keys=True).encode()
    secrets = [s.secret for s in endpoint.secrets.all() if s.is_current]
    headers = {
        "content-type": "application/json",
        "user-agent": "revops-webhooks/1",
        **sign_headers(secrets=secrets, msg_id=delivery.event_id, timestamp=int(time.time()), body=body),
    }
    started = time.monotonic()
    status_code, error, excerpt = None, "", ""
    try:
        response = requests.post(
            endpoint.url,
            data=body,
            headers=headers,
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
        status_code = response.status_code
        excerpt = response.text[:500]
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    duration_ms = int((time.monotonic() - started) * 1000)
    succeeded = status_code is not None and 200 <= status_code < 300
    failure_reason = "" if succeeded else (error or f"HTTP {status_code}")
    _record_outcome(
        delivery,
        succeeded=succeeded,
        status_code=status_code,
        error=failure_reason,
        excerpt=excerpt,
        duration_ms=duration_ms,
    )
    return "succeeded" if succeeded else "failed"


@transaction.atomic
def _record_outcome(delivery, *, succeeded, status_code, error, excerpt, duration_ms):
    now = timezone.now()
    DeliveryAttempt.objects.create(
        organization_id=delivery.organization_id,
        delivery=delivery,
        status_code=status_code,
        duration_ms=duration_ms,
        error=error[:500],
        response_excerpt=excerpt[:500],
    )
    update = {"claimed_until": None, "last_status_code": status_code, "last_error": error[:500]}
    if succeeded:
        update.update(status=WebhookDelivery.Status.SUCCEEDED, delivered_at=now)
        WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).update(consecutive_failures=0)
    else:
        if delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
            update["status"] = WebhookDelivery.Status.FAILED
        else:
            update["next_attempt_at"] = now + retry_delay(delivery.attempts)
        _count_failure(delivery.endpoint_id)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**update)


def _count_failure(endpoint_id: int) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(consecutive_failures=F("consecutive_failures") + 1)
    endpoint = WebhookEndpoint.objects.select_related("organization").get(pk=endpoint_id)
    if endpoint.is_active and endpoint.consecutive_failures >= settings.WEBHOOK_DISABLE_AFTER_FAILURES:
        endpoint.is_active = False
        endpoint.disabled_reason = f"Disabled after {endpoint.consecutive_failures} failed attempts in a row."
        endpoint.save(update_fields=["is_active", "disabled_reason", "updated_at"])
        security_event_record(
            kind=SecurityEvent.Kind.WEBHOOK_DISABLED,
            organization=endpoint.organization,
            endpoint=endpoint.url,
            failures=endpoint.consecutive_failures,
        )


def _validate_event_types(event_types) -> list[str]:
    event_types = sorted(set(event_types or []))
    unknown = [e for e in event_types if e not in EVENT_TYPES]
    if unknown:
        raise ServiceError(f"Unknown event type {unknown[0]!r}.", field="event_types")
    return event_types


def _validate_url(url: str) -> str:
    from django.core.exceptions import ValidationError
    from django.core.validators import URLValidator

    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise ServiceError("Enter a full http(s) URL.", field="url") from None
    if not settings.DEBUG and settings.REVOPS_ENV == "production" and not url.startswith("https://"):
        raise ServiceError("Webhook URLs must use https in production.", field="url")
    return url


@transaction.atomic
def webhook_endpoint_create(*, org, url: str, event_types=(), description: str = "") -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.create(
        organization=org,
        url=_validate_url(url.strip()),
        event_types=_validate_event_types(event_types),
        description=description.strip()[:200],
    )
    WebhookSecret.objects.create(organization=org, endpoint=endpoint)
    return endpoint


@transaction.atomic
def webhook_endpoint_update(*, org, endpoint: WebhookEndpoint, **fields) -> WebhookEndpoint:
    allowed = {"url", "event_types", "description", "is_active"}
    unknown = set(fields) - allowed
    if unknown:
        raise ServiceError(f"Unknown field {sorted(unknown)[0]}.", field=sorted(unknown)[0])
    if "url" in fields:
        endpoint.url = _validate_url(fields["url"].strip())
    if "event_types" in fields:
        endpoint.event_types = _validate_event_types(fields["event_types"])
    if "description" in fields:
        endpoint.description = fields["description"].strip()[:200]
    if "is_active" in fields:
        endpoint.is_active = bool(fields["is_active"])
        if endpoint.is_active:
            endpoint.disabled_reason = ""
            endpoint.consecutive_failures = 0
    endpoint.save()
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, org, endpoint: WebhookEndpoint) -> None:
    endpoint.delete()


@transaction.atomic
def webhook_secret_rotate(*, org, endpoint: WebhookEndpoint) -> WebhookSecret:
    """A new secret signs from now on; the old ones keep signing for 24 hours."""
    now = timezone.now()
    endpoint.secrets.filter(expires_at__isnull=True).update(expires_at=now + ROTATION_OVERLAP)
    endpoint.secrets.filter(expires_at__lte=now).delete()
    return WebhookSecret.objects.create(organization=org, endpoint=endpoint)


@transaction.atomic
def webhook_redeliver(*, org, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again now, whatever its outcome so far (same webhook-id)."""
    WebhookDelivery.objects.filter(pk=delivery.pk, organization=org).update(
        status=WebhookDelivery.Status.PENDING, next_attempt_at=timezone.now(), claimed_until=None
    )
    transaction.on_commit(lambda: _enqueue_delivery(delivery.pk))
    delivery.refresh_from_db()
    return delivery


@transaction.atomic
def webhook_send_test(*, org, endpoint: WebhookEndpoint) -> OutboxEvent:
    return outbox_emit(
        org=org,
        event_type="webhook.test",
        endpoint=endpoint,
        data={"endpoint": endpoint.url, "message": "A test event from revops."},
    )


def _enqueue_delivery(delivery_id: int) -> None:
    from .tasks import deliver_webhook

    try:
        deliver_webhook.delay(delivery_id)
    except Exception:
        logger.warning(
            "could not enqueue delivery %s; the periodic sweep will send it", delivery_id, exc_info=True
        )


def integrations_prune(*, older_than: timedelta = timedelta(days=30)) -> None:
    cutoff = timezone.now() - older_than
    # Deliveries and their attempts go with their events (ON DELETE CASCADE).
    OutboxEvent.objects.filter(relayed_at__lt=cutoff).delete()
