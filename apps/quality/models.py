"""Background data-quality jobs.

The records themselves (DuplicateCandidate, Merge, SourceMapping,
CompletenessRule) live in apps.records; this app only adds the row that lets a
long set-based rewrite (re-applying source mappings to history, recomputing
completeness after a rule change) run in a worker, show its progress on the
page, and be claimed exactly once.
"""

from django.conf import settings
from django.db import models

from apps.core.models import OrgOwned


class QualityJob(OrgOwned):
    class Kind(models.TextChoices):
        SOURCES_REAPPLY = "sources_reapply", "Re-apply source mappings"
        COMPLETENESS = "completeness", "Recompute completeness"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    # For completeness jobs: lead, account or opportunity; blank otherwise.
    object_type = models.CharField(max_length=20, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    steps_total = models.PositiveIntegerField(default=0)
    steps_done = models.PositiveIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True, help_text="Rows changed, by table.")
    error = models.CharField(max_length=500, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Asking twice while a job waits returns the waiting job instead of queueing another.
            models.UniqueConstraint(
                fields=["organization", "kind", "object_type"],
                condition=models.Q(status="queued"),
                name="quality_job_one_queued",
            )
        ]
        indexes = [
            models.Index(fields=["organization", "kind", "-created_at"], name="quality_job_org_kind_idx")
        ]

    def __str__(self):
        return f"{self.get_kind_display()} ({self.get_status_display()})"

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if not self.steps_total:
            return 0
        return min(99, int(100 * self.steps_done / self.steps_total))

    @property
    def active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)
