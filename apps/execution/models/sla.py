"""SLAs: policies, timers swept by a beat task, the escalations they caused,
and the in-app notifications people receive."""

import pghistory
from django.db import models

from apps.core.models import OrgOwned


class Clock(models.TextChoices):
    ACCEPT = "accept", "Accept"
    FIRST_TOUCH = "first_touch", "First touch"


class Step(models.TextChoices):
    REMIND = "remind", "Remind the rep"
    BREACH = "breach", "Record the breach"
    ALERT_MANAGER = "alert_manager", "Alert the manager"
    REASSIGN = "reassign", "Reassign"


@pghistory.track()
class SlaPolicy(OrgOwned):
    """A promised time for one step of working a lead, and what happens when it is missed.

    A policy applies to a lead when every filter that is set matches: its
    lifecycle stage, the team of the assigned pool and the lead conditions
    (a segment, in the condition language shared with routing).
    `escalation` is a ladder of {"at_minutes": business minutes after the
    clock starts, "action": Step, "mark_unavailable": bool}; the breach itself
    is the step at `target_minutes`.
    """

    name = models.CharField(max_length=120)
    clock = models.CharField(max_length=20, choices=Clock.choices, default=Clock.ACCEPT)
    target_minutes = models.PositiveIntegerField(help_text="Business minutes from the offer.")
    calendar = models.ForeignKey(
        "execution.BusinessCalendar",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sla_policies",
        help_text="Empty: the clock runs around the clock.",
    )
    stage = models.CharField(max_length=40, blank=True, help_text="Lifecycle stage key; empty: any.")
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="sla_policies"
    )
    conditions = models.JSONField(default=list, blank=True)
    escalation = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="slapolicy_unique_name")]

    def __str__(self):
        return self.name


class SlaTimer(OrgOwned):
    """One running clock for one assignment.

    `next_run_at` is when the sweeper must next look at it (the next
    escalation step) and is NULL once nothing is left to do; the sweeper
    claims due rows with FOR UPDATE SKIP LOCKED.
    """

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        MET = "met", "Met"
        BREACHED = "breached", "Breached"
        CANCELLED = "cancelled", "Cancelled"

    policy = models.ForeignKey(SlaPolicy, on_delete=models.PROTECT, related_name="timers")
    assignment = models.ForeignKey("execution.Assignment", on_delete=models.CASCADE, related_name="timers")
    lead = models.ForeignKey("records.Lead", on_delete=models.CASCADE, related_name="sla_timers")
    assignee = models.ForeignKey("accounts.Membership", on_delete=models.CASCADE, related_name="sla_timers")
    clock = models.CharField(max_length=20, choices=Clock.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField()
    due_at = models.DateTimeField()
    met_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    next_step = models.PositiveSmallIntegerField(default=0)
    next_run_at = models.DateTimeField(null=True, blank=True)
    # The ladder as it was when the clock started, with the breach step included.
    ladder = models.JSONField(default=list)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_run_at"], name="slatimer_due_idx", condition=models.Q(next_run_at__isnull=False)
            ),
            models.Index(fields=["organization", "assignee", "status"], name="slatimer_assignee_idx"),
            models.Index(fields=["assignment"], name="slatimer_assignment_idx"),
            models.Index(fields=["organization", "-started_at"], name="slatimer_started_idx"),
        ]

    def __str__(self):
        return f"{self.clock} timer for lead {self.lead_id} ({self.status})"


class SlaEvent(OrgOwned):
    """An escalation step applied; unique per timer and step, so never twice."""

    timer = models.ForeignKey(SlaTimer, on_delete=models.CASCADE, related_name="events")
    step = models.PositiveSmallIntegerField()
    action = models.CharField(max_length=20, choices=Step.choices)
    at = models.DateTimeField()
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["timer", "step"], name="slaevent_once_per_step")]

    def __str__(self):
        return f"{self.action} on timer {self.timer_id}"


class Notification(OrgOwned):
    recipient = models.ForeignKey(
        "accounts.Membership", on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=40)  # lead.routed, sla.reminder, sla.breached, ...
    title = models.CharField(max_length=200)
    body = models.CharField(max_length=500, blank=True)
    url = models.CharField(max_length=300, blank=True)
    lead = models.ForeignKey(
        "records.Lead", null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["recipient", "-created_at"],
                name="notification_unread_idx",
                condition=models.Q(read_at__isnull=True),
            ),
            models.Index(fields=["recipient", "-created_at"], name="notification_recipient_idx"),
        ]

    def __str__(self):
        return self.title
