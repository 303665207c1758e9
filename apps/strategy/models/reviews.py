"""The quarterly strategy review: a snapshot of goals, channel plan and KPI tree when it was held,
with notes and decisions. The snapshot is written once and never changes."""

from django.db import models
from django.db.models import Q

from apps.core.models import OrgOwned


class StrategyReview(OrgOwned):
    fiscal_year = models.PositiveSmallIntegerField()
    quarter = models.PositiveSmallIntegerField()
    held_on = models.DateField()
    snapshot = models.JSONField(default=dict)
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        "accounts.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-held_on", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quarter__gte=1, quarter__lte=4), name="strategy_review_quarter"
            )
        ]

    def __str__(self):
        return f"Strategy review FY{self.fiscal_year} Q{self.quarter} ({self.held_on})"


class StrategyDecision(OrgOwned):
    review = models.ForeignKey(StrategyReview, on_delete=models.CASCADE, related_name="decisions")
    text = models.CharField(max_length=500)
    rationale = models.TextField(blank=True)
    owner = models.ForeignKey(
        "accounts.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    due = models.DateField(null=True, blank=True)
    done = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.text
