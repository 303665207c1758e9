"""Journeys: demand capture, nurture, expansion and retention programmes that run themselves.

A journey's steps live in versions: publishing freezes the steps as a new
JourneyVersion, and an enrolment runs on the version it started with to the
end. An enrolment is durable state (the step it is at and when it runs next);
the beat sweeper claims due enrolments with FOR UPDATE SKIP LOCKED and records
each step it runs as a JourneyStepRun whose idempotency key is unique, so a
step is never done twice even when a worker dies half-way.
"""

import pghistory
from django.db import models
from django.db.models import Q

from apps.core.models import OrgOwned


class JourneyMotion(models.TextChoices):
    CAPTURE = "capture", "Demand capture"
    NURTURE = "nurture", "Nurture"
    EXPANSION = "expansion", "Expansion"
    RETENTION = "retention", "Retention"


class JourneyStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    ARCHIVED = "archived", "Archived"


class ReentryPolicy(models.TextChoices):
    NEVER = "never", "Never"
    AFTER_DAYS = "after_days", "After a number of days"
    ALWAYS = "always", "Always"


@pghistory.track()
class Journey(OrgOwned):
    name = models.CharField(max_length=200)
    motion = models.CharField(max_length=12, choices=JourneyMotion.choices)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=JourneyStatus.choices, default=JourneyStatus.DRAFT)
    owner = models.ForeignKey(
        "accounts.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="journeys"
    )
    # {"type": "segment_joined" | "stage_reached" | "touchpoint" | "event" | "manual", ...its settings}
    entry = models.JSONField(default=dict, blank=True)
    # [{"type": "stage_reached" | "replied" | "unsubscribed" | "opportunity_created", ...}]
    exit_goals = models.JSONField(default=list, blank=True)
    reentry = models.CharField(max_length=12, choices=ReentryPolicy.choices, default=ReentryPolicy.NEVER)
    reentry_days = models.PositiveIntegerField(null=True, blank=True)
    suppress_customers = models.BooleanField(
        default=False, help_text="Keep existing customers out (for acquisition journeys)."
    )
    # The working copy of the steps; publishing freezes it as a version.
    draft_steps = models.JSONField(default=list, blank=True)
    current_version = models.ForeignKey(
        "JourneyVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    campaign = models.ForeignKey(
        "execution.Campaign",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="journeys",
        help_text="The campaign this journey follows up, if any.",
    )

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["organization", "status"], name="journey_org_status_idx")]

    def __str__(self):
        return self.name


class JourneyVersion(OrgOwned):
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    # [{"id": "s1", "type": "email" | "wait" | "branch" | "update" | "task" | "notify" | "webhook", ...}]
    steps = models.JSONField(default=list)
    published_at = models.DateTimeField()
    published_by = models.ForeignKey(
        "accounts.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # How far the entry pass has read the entry's source rows, in (created_at, id) order; empty: from
    # the publication on. See apps.execution.journeys.entry.
    entry_read_at = models.DateTimeField(null=True, blank=True)
    entry_read_id = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["journey", "-number"]
        constraints = [models.UniqueConstraint(fields=["journey", "number"], name="journey_version_unique")]

    def __str__(self):
        return f"{self.journey} v{self.number}"


class EnrollmentStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    EXITED = "exited", "Exited by a goal"
    SUPPRESSED = "suppressed", "Suppressed"
    FAILED = "failed", "Failed"


class Enrollment(OrgOwned):
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="enrollments")
    version = models.ForeignKey(JourneyVersion, on_delete=models.PROTECT, related_name="enrollments")
    lead = models.ForeignKey("records.Lead", on_delete=models.CASCADE, related_name="enrollments")
    status = models.CharField(
        max_length=10, choices=EnrollmentStatus.choices, default=EnrollmentStatus.ACTIVE
    )
    step_id = models.CharField(max_length=40, blank=True, help_text="The step to run next; blank at the end.")
    # How many times this enrolment has been at its current step (a branch can loop back).
    visit = models.PositiveIntegerField(default=1)
    next_run_at = models.DateTimeField(null=True, blank=True)
    entered_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    exit_reason = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=40, blank=True, help_text="What enrolled the lead (entry type).")
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        indexes = [
            # The sweeper's claim: due active enrolments, oldest first.
            models.Index(fields=["next_run_at"], condition=Q(status="active"), name="enrollment_due_idx"),
            models.Index(fields=["organization", "journey", "status"], name="enrollment_journey_idx"),
            models.Index(fields=["organization", "lead"], name="enrollment_lead_idx"),
        ]
        constraints = [
            # One running enrolment per person and journey; re-entry makes a new row after the last ends.
            models.UniqueConstraint(
                fields=["journey", "lead"],
                condition=Q(status__in=["active", "paused"]),
                name="enrollment_one_running",
            )
        ]

    def __str__(self):
        return f"{self.lead_id} in {self.journey_id} at {self.step_id or 'end'}"


class StepRunStatus(models.TextChoices):
    DONE = "done", "Done"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed"


class JourneyStepRun(OrgOwned):
    """One step run for one enrolment: the idempotency key is enrolment, version, step and visit."""

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="step_runs")
    step_id = models.CharField(max_length=40)
    step_type = models.CharField(max_length=12)
    idempotency_key = models.CharField(max_length=120)
    status = models.CharField(max_length=10, choices=StepRunStatus.choices)
    detail = models.JSONField(default=dict, blank=True)
    ran_at = models.DateTimeField()

    class Meta:
        ordering = ["ran_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["idempotency_key"], name="journey_step_run_key_unique")
        ]
        # Read by enrolment (its own index) or by organisation (the foreign key's): no composite index,
        # which the sweeper would pay for on every step it writes.

    def __str__(self):
        return self.idempotency_key


@pghistory.track()
class EmailTemplate(OrgOwned):
    """An e-mail with merge fields ({{ first_name }}, {{ company }}, {{ owner_name }}...)."""

    name = models.CharField(max_length=200)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    from_email = models.CharField(max_length=254, blank=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return self.name


class OutboundEmail(OrgOwned):
    """An e-mail a step decided to send, written with the step; a sender delivers it once."""

    step_run = models.OneToOneField(JourneyStepRun, on_delete=models.CASCADE, related_name="email")
    lead = models.ForeignKey("records.Lead", null=True, on_delete=models.SET_NULL, related_name="+")
    to = models.CharField(max_length=254)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    from_email = models.CharField(max_length=254, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["created_at"], condition=Q(sent_at__isnull=True), name="outbound_email_unsent_idx"
            )
        ]

    def __str__(self):
        return f"{self.to}: {self.subject}"


class Suppression(OrgOwned):
    """An address that must receive no journey e-mail (unsubscribed, bounced or asked by hand)."""

    email = models.CharField(max_length=254)
    reason = models.CharField(max_length=20, default="unsubscribed")
    at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "email"], name="suppression_unique_email")
        ]

    def __str__(self):
        return f"{self.email} ({self.reason})"


class Task(OrgOwned):
    """A to-do for a person about a lead, created by a journey step (or by hand)."""

    lead = models.ForeignKey(
        "records.Lead", null=True, blank=True, on_delete=models.CASCADE, related_name="tasks"
    )
    assignee = models.ForeignKey(
        "accounts.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    title = models.CharField(max_length=300)
    due = models.DateField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    step_run = models.OneToOneField(
        JourneyStepRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="task"
    )

    class Meta:
        ordering = ["due", "id"]
        indexes = [models.Index(fields=["organization", "assignee", "done_at"], name="task_assignee_idx")]

    def __str__(self):
        return self.title
