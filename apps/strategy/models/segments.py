"""Segments and the ICP: rules over lead or account fields, each worth points towards a fit score.

`rules` is a list of {"name": str, "conditions": [...], "points": int}, the
conditions in the language of apps.records.conditions. A record's fit score is
the sum of the points of the rules it meets; it belongs to the segment when
that score reaches `threshold`. The ICP is the one segment marked `is_icp`.
Membership rows exist for members only and are kept current on write and
recomputed nightly.
"""

import pghistory
from django.db import models
from django.db.models import Q

from apps.core.models import OrgOwned


class SegmentObject(models.TextChoices):
    LEAD = "lead", "Leads"
    ACCOUNT = "account", "Accounts"


@pghistory.track()
class Segment(OrgOwned):
    key = models.SlugField(max_length=60)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    object_type = models.CharField(max_length=10, choices=SegmentObject.choices, default=SegmentObject.LEAD)
    is_icp = models.BooleanField(default=False)
    rules = models.JSONField(default=list, blank=True)
    threshold = models.PositiveIntegerField(default=1)
    owner = models.ForeignKey(
        "accounts.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="segments"
    )
    # When membership was last recomputed in full, and how many members it found.
    recomputed_at = models.DateTimeField(null=True, blank=True)
    member_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-is_icp", "name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "key"], name="segment_key_unique"),
            models.UniqueConstraint(
                fields=["organization"], condition=Q(is_icp=True), name="segment_one_icp_per_org"
            ),
            models.CheckConstraint(condition=Q(threshold__gte=1), name="segment_threshold_positive"),
        ]

    def __str__(self):
        return self.name

    @property
    def recompute_pending(self) -> bool:
        """Saved (or asked to recompute) since the last full recompute: a worker is on it."""
        return self.recomputed_at is None or self.updated_at > self.recomputed_at


class SegmentMembership(OrgOwned):
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="memberships")
    lead = models.ForeignKey(
        "records.Lead", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    account = models.ForeignKey(
        "records.Account", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    score = models.IntegerField(default=0)
    since = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["segment", "lead"], condition=Q(lead__isnull=False), name="segment_member_lead_unique"
            ),
            models.UniqueConstraint(
                fields=["segment", "account"],
                condition=Q(account__isnull=False),
                name="segment_member_account_unique",
            ),
            models.CheckConstraint(
                condition=Q(lead__isnull=False, account__isnull=True)
                | Q(lead__isnull=True, account__isnull=False),
                name="segment_member_one_record",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "lead"], name="segment_member_lead_idx"),
            models.Index(fields=["organization", "account"], name="segment_member_account_idx"),
        ]

    def __str__(self):
        return f"{self.segment}: {self.lead_id or self.account_id} ({self.score})"
