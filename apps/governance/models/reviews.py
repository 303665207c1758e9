"""Operating reviews: the weekly RevOps review, the monthly planning review and the quarterly strategy
review share one record.

Holding a review freezes what the team looked at into `snapshot` (JSON written once, never changed
afterwards); the agenda is proposed from red flags, leaks and last period's open action items; the
decisions and action items are what the review is for.
"""

import pghistory
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q

from apps.core.models import OrgOwned


class ReviewKind(models.TextChoices):
    WEEKLY = "weekly", "Weekly RevOps review"
    MONTHLY = "monthly", "Monthly planning review"
    QUARTERLY = "quarterly", "Quarterly strategy review"


@pghistory.track(exclude=["snapshot"])
class OperatingReview(OrgOwned):
    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        HELD = "held", "Held"

    kind = models.CharField(max_length=10, choices=ReviewKind.choices, default=ReviewKind.WEEKLY)
    period_start = models.DateField(help_text="First day of the week, month or fiscal quarter reviewed.")
    period_end = models.DateField(help_text="Last day of the period reviewed.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PLANNED)
    held_on = models.DateField(null=True, blank=True)
    # What the team looked at, frozen when the review is held: never written again afterwards.
    snapshot = models.JSONField(default=dict, blank=True)
    notes = models.TextField(blank=True)
    attendees = models.ManyToManyField("accounts.Membership", blank=True, related_name="+")
    created_by = models.ForeignKey(
        "accounts.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    digest_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-period_start", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "kind", "period_start"], name="operating_review_one_per_period"
            ),
            models.CheckConstraint(
                condition=Q(period_end__gte=models.F("period_start")), name="review_period"
            ),
            models.CheckConstraint(
                condition=Q(status="planned") | Q(held_on__isnull=False), name="review_held_on_when_held"
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.period_start:%Y-%m-%d}"


class AgendaSource(models.TextChoices):
    RED_FLAG = "red_flag", "Red flag"
    LEAK = "leak", "Leak"
    CARRIED = "carried", "Carried forward"
    KPI = "kpi", "KPI off track"
    MANUAL = "manual", "Added by hand"


@pghistory.track()
class AgendaItem(OrgOwned):
    review = models.ForeignKey(OperatingReview, on_delete=models.CASCADE, related_name="agenda")
    position = models.PositiveSmallIntegerField(default=0)
    source = models.CharField(max_length=10, choices=AgendaSource.choices, default=AgendaSource.MANUAL)
    # A stable fingerprint of the issue ("red_flag:rejections_rising", "leak:sal>sql:channel:paid_social"),
    # so the same issue raised in several reviews without a decision can be recognised.
    key = models.CharField(max_length=160, blank=True)
    title = models.CharField(max_length=300)
    detail = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["organization", "key"], name="agenda_org_key_idx")]

    def __str__(self):
        return self.title


@pghistory.track()
class Decision(OrgOwned):
    review = models.ForeignKey(OperatingReview, on_delete=models.CASCADE, related_name="decisions")
    agenda_item = models.ForeignKey(
        AgendaItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="decisions"
    )
    text = models.CharField(max_length=500)
    rationale = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        "accounts.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.text


class ActionStatus(models.TextChoices):
    OPEN = "open", "Open"
    DONE = "done", "Done"
    DROPPED = "dropped", "Dropped"


@pghistory.track()
class ActionItem(OrgOwned):
    """Something a review asked someone to do. Open items carry forward into every later review."""

    review = models.ForeignKey(OperatingReview, on_delete=models.CASCADE, related_name="action_items")
    decision = models.ForeignKey(
        Decision, null=True, blank=True, on_delete=models.SET_NULL, related_name="action_items"
    )
    title = models.CharField(max_length=300)
    owner = models.ForeignKey(
        "accounts.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    due = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=ActionStatus.choices, default=ActionStatus.OPEN)
    completed_at = models.DateTimeField(null=True, blank=True)
    # The object concerned (a campaign, a KPI node, a routing policy…), in this organisation.
    content_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.SET_NULL)
    object_id = models.PositiveBigIntegerField(null=True, blank=True)
    subject = GenericForeignKey("content_type", "object_id")

    class Meta:
        ordering = ["due", "id"]
        indexes = [models.Index(fields=["organization", "status", "due"], name="action_org_status_due_idx")]

    def __str__(self):
        return self.title
