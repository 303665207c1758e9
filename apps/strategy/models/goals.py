"""Revenue goals: a target for one metric in one fiscal quarter, for the organisation or one team.

Each goal names a catalogue metric (apps.measurement.metrics.catalogue), so its
progress is read from the same engine as every report. `fiscal_year` is the
calendar year the fiscal year ends in (see apps.strategy.fiscal). The pghistory
triggers keep every version of a goal, which is where the history of target
changes comes from.
"""

import pghistory
from django.db import models
from django.db.models import Q

from apps.core.models import OrgOwned


class GoalMetric(models.TextChoices):
    # Each value is a catalogue key.
    NEW_BOOKINGS = "new_bookings", "New bookings"
    PIPELINE_CREATED = "pipeline_created", "Pipeline created"
    NEW_LOGOS = "new_logos", "New logos"
    NET_REVENUE_RETENTION = "net_revenue_retention", "Net revenue retention"


@pghistory.track()
class Goal(OrgOwned):
    metric = models.CharField(max_length=40, choices=GoalMetric.choices)
    fiscal_year = models.PositiveSmallIntegerField(help_text="The calendar year the fiscal year ends in.")
    quarter = models.PositiveSmallIntegerField()
    # A team goal goes with its team; the audit trail keeps its versions.
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="goals"
    )
    # Required by the service; a member who leaves the organisation leaves their goals without an
    # owner (shown as such) rather than taking them along or blocking the removal.
    owner = models.ForeignKey(
        "accounts.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="goals"
    )
    target = models.DecimalField(max_digits=16, decimal_places=2)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["fiscal_year", "quarter", "metric", "id"]
        constraints = [
            # Two conditional constraints: NULLs are distinct in a plain unique constraint, so one
            # would let an organisation-wide goal be recorded twice.
            models.UniqueConstraint(
                fields=["organization", "metric", "fiscal_year", "quarter", "team"],
                name="goal_unique_team",
                condition=Q(team__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["organization", "metric", "fiscal_year", "quarter"],
                name="goal_unique_organisation",
                condition=Q(team__isnull=True),
            ),
            models.CheckConstraint(condition=Q(quarter__gte=1, quarter__lte=4), name="goal_quarter_1_to_4"),
            models.CheckConstraint(condition=Q(target__gte=0), name="goal_target_not_negative"),
        ]
        indexes = [
            models.Index(fields=["organization", "fiscal_year", "quarter"], name="goal_org_quarter_idx")
        ]

    def __str__(self):
        scope = self.team.name if self.team_id else "organisation"
        return f"{self.get_metric_display()} FY{self.fiscal_year} Q{self.quarter} ({scope}): {self.target}"
