"""The marketing plan: programs with an objective, an owner, dates, dependencies, budget lines and targets.

A program is the plan a campaign serves; its segment, offer and goal are its
strategic rationale.
"""

import pghistory
from django.db import models
from django.db.models import F, Q

from apps.core.models import OrgOwned


class ProgramStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    ACTIVE = "active", "Active"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


@pghistory.track()
class Program(OrgOwned):
    name = models.CharField(max_length=120)
    objective = models.TextField()
    rationale = models.TextField(blank=True, help_text="Why this program, in the plan's own words.")
    owner = models.ForeignKey(
        "accounts.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="programs"
    )
    start = models.DateField()
    end = models.DateField()
    status = models.CharField(max_length=10, choices=ProgramStatus.choices, default=ProgramStatus.PLANNED)
    segment = models.ForeignKey(
        "strategy.Segment", null=True, blank=True, on_delete=models.SET_NULL, related_name="programs"
    )
    offer = models.ForeignKey(
        "strategy.Offer", null=True, blank=True, on_delete=models.SET_NULL, related_name="programs"
    )
    goal = models.ForeignKey(
        "strategy.Goal", null=True, blank=True, on_delete=models.SET_NULL, related_name="programs"
    )
    depends_on = models.ManyToManyField("self", symmetrical=False, blank=True, related_name="dependents")

    class Meta:
        ordering = ["start", "name", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(end__gte=F("start")), name="program_end_after_start")
        ]

    def __str__(self):
        return self.name


class ProgramBudgetLine(OrgOwned):
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="budget_lines")
    channel = models.CharField(max_length=60, blank=True)
    description = models.CharField(max_length=200)
    amount = models.DecimalField(max_digits=16, decimal_places=2)

    class Meta:
        ordering = ["id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gte=0), name="program_budget_not_negative")]

    def __str__(self):
        return f"{self.program}: {self.description} {self.amount}"


class ProgramTarget(OrgOwned):
    """A KPI the program is judged by: a catalogue metric and its target over the program's dates."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="targets")
    metric = models.CharField(max_length=60)
    target = models.DecimalField(max_digits=18, decimal_places=4)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["program", "metric"], name="program_target_unique")]

    def __str__(self):
        return f"{self.program}: {self.metric} {self.target}"
