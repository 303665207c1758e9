"""The incrementality register: holdout tests whose lift is measured, not attributed."""

import pghistory
from django.db import models
from django.db.models import F, Q

from apps.core.models import OrgOwned


@pghistory.track()
class HoldoutTest(OrgOwned):
    name = models.CharField(max_length=200)
    channel = models.CharField(max_length=60, blank=True)
    campaign_ref = models.CharField(max_length=255, blank=True)
    hypothesis = models.TextField(blank=True)
    period_start = models.DateField()
    period_end = models.DateField()
    treatment_size = models.PositiveIntegerField(help_text="People who saw the program.")
    treatment_conversions = models.PositiveIntegerField()
    control_size = models.PositiveIntegerField(help_text="People held out of it.")
    control_conversions = models.PositiveIntegerField()
    conversion_event = models.CharField(
        max_length=120, default="opportunity created", help_text="What counts as a conversion."
    )
    notes = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(period_end__gte=F("period_start")), name="holdout_period_order"
            ),
            models.CheckConstraint(
                condition=Q(treatment_conversions__lte=F("treatment_size"))
                & Q(control_conversions__lte=F("control_size")),
                name="holdout_conversions_within_group",
            ),
        ]
        indexes = [models.Index(fields=["organization", "-period_end"], name="holdout_org_period_idx")]

    def __str__(self):
        return self.name
