"""The spend ledger: what marketing paid, by channel, campaign, period and type.

CAC, cost per lead, cost per qualified opportunity and ROMI read from it. An
entry covers a period (a day, a month, a quarter); metrics spread its amount
evenly over the period's days, so a March invoice counts one thirty-first a
day whatever grain a report asks for.
"""

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import F, Q

from apps.core.models import OrgOwned


class SpendType(models.TextChoices):
    MEDIA = "media", "Media"
    TOOLS = "tools", "Tools"
    PEOPLE = "people", "People"
    EVENTS = "events", "Events"
    OTHER = "other", "Other"


# Paid spend is bought reach: the paid CAC reads only these types.
PAID_TYPES = (SpendType.MEDIA, SpendType.EVENTS)


@pghistory.track()
class SpendEntry(OrgOwned):
    external_id = models.CharField(max_length=120, null=True, blank=True)
    channel = models.CharField(max_length=60, help_text="A canonical channel, as source mappings name them.")
    campaign_ref = models.CharField(max_length=255, blank=True, help_text="The campaign, as UTM campaign.")
    type = models.CharField(max_length=10, choices=SpendType.choices, default=SpendType.MEDIA)
    period_start = models.DateField()
    period_end = models.DateField(help_text="Inclusive.")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    note = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name_plural = "spend entries"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "external_id"],
                name="spend_unique_external_id",
                condition=Q(external_id__isnull=False),
            ),
            models.CheckConstraint(condition=Q(period_end__gte=F("period_start")), name="spend_period_order"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="spend_amount_not_negative"),
        ]
        indexes = [
            models.Index(fields=["organization", "period_start", "period_end"], name="spend_org_period_idx"),
            models.Index(fields=["organization", "-created_at", "-id"], name="spend_org_created_idx"),
        ]

    def __str__(self):
        return f"{self.channel} {self.period_start} to {self.period_end}: {self.amount}"

    @property
    def days(self) -> int:
        return (self.period_end - self.period_start).days + 1
