"""Hand-offs between teams, A/B/n experiments and playbooks.

A hand-off is the moment a record changes hands (marketing to sales at MQL →
SAL, sales to customer success at closed-won): it carries the required fields
and the notes across and runs on its own SLA (a policy's target, measured in
the receiver's business hours by the SLA engine's clock).
"""

import pghistory
from django.db import models
from django.db.models import Q

from apps.core.models import OrgOwned


class HandoffKind(models.TextChoices):
    MARKETING_TO_SALES = "mql_to_sal", "Marketing → sales"
    SALES_TO_SUCCESS = "won_to_onboarding", "Sales → customer success"


class HandoffStatus(models.TextChoices):
    PENDING = "pending", "Waiting for the receiver"
    ACCEPTED = "accepted", "Accepted"
    RETURNED = "returned", "Returned to the sender"


class Handoff(OrgOwned):
    kind = models.CharField(max_length=20, choices=HandoffKind.choices)
    status = models.CharField(max_length=10, choices=HandoffStatus.choices, default=HandoffStatus.PENDING)
    lead = models.ForeignKey(
        "records.Lead", null=True, blank=True, on_delete=models.CASCADE, related_name="handoffs"
    )
    opportunity = models.ForeignKey(
        "records.Opportunity", null=True, blank=True, on_delete=models.CASCADE, related_name="handoffs"
    )
    account = models.ForeignKey(
        "records.Account", null=True, blank=True, on_delete=models.CASCADE, related_name="handoffs"
    )
    sender = models.ForeignKey(
        "accounts.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    receiver = models.ForeignKey(
        "accounts.Membership",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="handoffs_received",
    )
    receiving_team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The required fields as they were when handed over ({"field": value}), and the notes carried across.
    fields = models.JSONField(default=dict, blank=True)
    notes = models.TextField(blank=True)
    return_reason = models.CharField(max_length=500, blank=True)
    sla_policy = models.ForeignKey(
        "execution.SlaPolicy", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    due_at = models.DateTimeField(null=True, blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "status", "due_at"], name="handoff_org_status_idx"),
            models.Index(
                fields=["due_at"],
                condition=Q(status="pending", breached_at__isnull=True),
                name="handoff_due_idx",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} ({self.status})"


class ExperimentStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    RUNNING = "running", "Running"
    STOPPED = "stopped", "Stopped"


@pghistory.track()
class Experiment(OrgOwned):
    """An A/B/n test of offers or messages in a journey step or a campaign."""

    name = models.CharField(max_length=200)
    hypothesis = models.TextField(blank=True)
    journey = models.ForeignKey(
        "execution.Journey", null=True, blank=True, on_delete=models.SET_NULL, related_name="experiments"
    )
    step_id = models.CharField(max_length=40, blank=True, help_text="The journey step whose content varies.")
    campaign = models.ForeignKey(
        "execution.Campaign", null=True, blank=True, on_delete=models.SET_NULL, related_name="experiments"
    )
    # [{"key": "a", "name": "Demo offer", "weight": 1, ...content overrides}]
    variants = models.JSONField(default=list)
    # The conversion that counts, e.g. {"type": "stage_reached", "stage": "sql"}.
    goal = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=ExperimentStatus.choices, default=ExperimentStatus.DRAFT)
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    winner = models.CharField(max_length=40, blank=True)
    learned = models.TextField(blank=True, help_text="What the test taught, for the register.")
    owner = models.ForeignKey(
        "accounts.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.name


class ExperimentAssignment(OrgOwned):
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="assignments")
    lead = models.ForeignKey("records.Lead", on_delete=models.CASCADE, related_name="+")
    variant = models.CharField(max_length=40)
    assigned_at = models.DateTimeField()
    converted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["experiment", "lead"], name="experiment_assignment_unique")
        ]
        indexes = [models.Index(fields=["experiment", "variant"], name="experiment_assignment_idx")]

    def __str__(self):
        return f"{self.lead_id} -> {self.variant}"


@pghistory.track()
class Playbook(OrgOwned):
    """A runbook in Markdown, shown where the work happens: on a stage or a campaign type."""

    title = models.CharField(max_length=200)
    body = models.TextField(help_text="Markdown.")
    stage = models.ForeignKey(
        "records.LifecycleStage", null=True, blank=True, on_delete=models.CASCADE, related_name="playbooks"
    )
    campaign_type = models.CharField(max_length=20, blank=True)

    class Meta:
        ordering = ["title", "id"]

    def __str__(self):
        return self.title
