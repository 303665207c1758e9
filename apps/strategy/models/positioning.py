"""Positioning and offers per segment. Both are versioned by their pghistory triggers."""

import pghistory
from django.db import models

from apps.core.models import OrgOwned


@pghistory.track()
class Positioning(OrgOwned):
    """What we say to one segment: value propositions, messaging pillars and proof points (lists of text)."""

    segment = models.OneToOneField("strategy.Segment", on_delete=models.CASCADE, related_name="positioning")
    value_propositions = models.JSONField(default=list, blank=True)
    messaging_pillars = models.JSONField(default=list, blank=True)
    proof_points = models.JSONField(default=list, blank=True)
    owner = models.ForeignKey(
        "accounts.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    version = models.PositiveIntegerField(default=1)

    def __str__(self):
        return f"Positioning for {self.segment}"


class OfferType(models.TextChoices):
    DEMO = "demo", "Demo"
    TRIAL = "trial", "Trial"
    ASSESSMENT = "assessment", "Assessment"
    CONTENT = "content", "Content"
    EVENT = "event", "Event"


@pghistory.track()
class Offer(OrgOwned):
    name = models.CharField(max_length=120)
    type = models.CharField(max_length=12, choices=OfferType.choices)
    description = models.TextField(blank=True)
    segment = models.ForeignKey(
        "strategy.Segment", null=True, blank=True, on_delete=models.SET_NULL, related_name="offers"
    )
    owner = models.ForeignKey(
        "accounts.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    active = models.BooleanField(default=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-active", "name", "id"]

    def __str__(self):
        return self.name
