"""Saved plans: a named set of reverse-waterfall inputs for one fiscal quarter, and its scenarios.

`params` holds the same parameters the waterfall page and API take
(apps.strategy.planning), so a saved plan opens exactly as it was saved. A
scenario is a plan copied from another (`based_on`) with some assumption
changed; the primary plan of a quarter is the one channel budgets and reviews
compare against.
"""

import pghistory
from django.db import models
from django.db.models import Q

from apps.core.models import OrgOwned


@pghistory.track()
class SavedPlan(OrgOwned):
    name = models.CharField(max_length=120)
    fiscal_year = models.PositiveSmallIntegerField()
    quarter = models.PositiveSmallIntegerField()
    params = models.JSONField(default=dict)
    based_on = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="scenarios"
    )
    is_primary = models.BooleanField(default=False)
    note = models.TextField(blank=True)
    owner = models.ForeignKey(
        "accounts.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["fiscal_year", "quarter", "-is_primary", "name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "fiscal_year", "quarter"],
                condition=Q(is_primary=True),
                name="saved_plan_one_primary_per_quarter",
            ),
            models.UniqueConstraint(
                fields=["organization", "fiscal_year", "quarter", "name"], name="saved_plan_unique_name"
            ),
            models.CheckConstraint(condition=Q(quarter__gte=1, quarter__lte=4), name="saved_plan_quarter"),
        ]

    def __str__(self):
        return f"{self.name} (FY{self.fiscal_year} Q{self.quarter})"
