"""The channel budget: planned spend per fiscal quarter and channel (optionally for one segment).

Expected leads and pipeline are derived from the plan's assumptions, actual
spend from the spend ledger and actual results from the metric engine; only
the plan itself is stored here.
"""

import pghistory
from django.db import models
from django.db.models import Q

from apps.core.models import OrgOwned


@pghistory.track()
class ChannelBudget(OrgOwned):
    fiscal_year = models.PositiveSmallIntegerField(help_text="The calendar year the fiscal year ends in.")
    quarter = models.PositiveSmallIntegerField()
    channel = models.CharField(max_length=60)
    segment = models.ForeignKey(
        "strategy.Segment", null=True, blank=True, on_delete=models.CASCADE, related_name="budgets"
    )
    planned_spend = models.DecimalField(max_digits=16, decimal_places=2)
    # Optional: the cost per lead the plan assumes; the channel's own history when blank.
    expected_cost_per_lead = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["fiscal_year", "quarter", "channel", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "fiscal_year", "quarter", "channel", "segment"],
                condition=Q(segment__isnull=False),
                name="channel_budget_unique_segment",
            ),
            models.UniqueConstraint(
                fields=["organization", "fiscal_year", "quarter", "channel"],
                condition=Q(segment__isnull=True),
                name="channel_budget_unique_channel",
            ),
            models.CheckConstraint(
                condition=Q(quarter__gte=1, quarter__lte=4), name="channel_budget_quarter"
            ),
            models.CheckConstraint(
                condition=Q(planned_spend__gte=0), name="channel_budget_spend_not_negative"
            ),
        ]

    def __str__(self):
        return f"{self.channel} FY{self.fiscal_year} Q{self.quarter}: {self.planned_spend}"
