"""Outgoing events: the transactional outbox and signed webhook deliveries.

A service that changes data writes an `OutboxEvent` in the same transaction.
A worker relays committed events into one `WebhookDelivery` per subscribed
endpoint; deliveries are rows with a due time, so a crash of the worker, a
Redis restart or a slow receiver loses nothing.
"""

import base64
import secrets
import uuid

import pghistory
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

from apps.core.models import OrgOwned

from .events import EVENT_CHOICES


def new_event_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


class OutboxEvent(OrgOwned):
    id = models.CharField(primary_key=True, max_length=40, default=new_event_id, editable=False)
    event_type = models.CharField(max_length=64, choices=EVENT_CHOICES)
    payload = models.JSONField()
    # Only for events aimed at one endpoint (a test ping); otherwise all subscribers.
    endpoint = models.ForeignKey(
        "WebhookEndpoint", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    relayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["created_at"], name="outbox_pending_idx", condition=models.Q(relayed_at__isnull=True)
            )
        ]

    def __str__(self):
        return f"{self.event_type} {self.id}"


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


@pghistory.track()
class WebhookEndpoint(OrgOwned):
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    event_types = ArrayField(
        models.CharField(max_length=64, choices=EVENT_CHOICES),
        default=list,
        blank=True,
        help_text="Empty: every event.",
    )
    is_active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.url

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


@pghistory.track(exclude=["secret"])
class WebhookSecret(OrgOwned):
    """A signing secret. Rotation keeps the old one valid until `expires_at`,
    signing with both meanwhile, so receivers can switch without dropping calls."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="secrets")
    secret = models.CharField(max_length=80, default=new_webhook_secret)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    @property
    def is_current(self) -> bool:
        return self.expires_at is None or self.expires_at > timezone.now()


class WebhookDelivery(OrgOwned):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # A worker owns the delivery until this moment; a killed worker's claim lapses.
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="delivery_once_per_endpoint_event")
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"], name="delivery_due_idx", condition=models.Q(status="pending")
            )
        ]


class DeliveryAttempt(OrgOwned):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    status_code = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
