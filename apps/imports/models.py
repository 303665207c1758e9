"""CSV imports: the job, the uploaded bytes and the rows that failed.

Web processes and workers keep nothing on local disk, so the uploaded file is
stored in Postgres as ordered chunks (`ImportFileChunk`) and read back as a
stream by whichever worker runs the job. The job row is also the checkpoint:
`next_row` and the counts advance in the same transaction as the batch they
describe, and `lease_owner` / `lease_expires_at` say which process may apply
the next batch (see services.py).
"""

import pghistory
from django.conf import settings
from django.db import models

from apps.core.models import OrgOwned


class ObjectType(models.TextChoices):
    LEAD = "lead", "Leads"
    ACCOUNT = "account", "Accounts"


class Mode(models.TextChoices):
    CREATE = "create", "Create new records only"
    UPDATE = "update", "Update existing records only"
    UPSERT = "upsert", "Update existing records, create the rest"


MATCH_KEYS = {
    ObjectType.LEAD: [("email", "E-mail"), ("external_id", "External ID")],
    ObjectType.ACCOUNT: [("domain", "Domain"), ("external_id", "External ID")],
}


# Progress, lease and checkpoint columns change every batch; the audit trail
# keeps the decisions (upload, mapping, mode, start, cancel, outcome) only.
@pghistory.track(
    exclude=[
        "processed_rows", "created_count", "updated_count", "unchanged_count", "error_count",
        "next_row", "lease_owner", "lease_expires_at", "updated_at",
    ]
)  # fmt: skip
class ImportJob(OrgOwned):
    class Status(models.TextChoices):
        UPLOADED = "uploaded", "Uploaded"
        MAPPED = "mapped", "Mapped"
        VALIDATED = "validated", "Checked"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Finished"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE = (Status.QUEUED, Status.RUNNING)
    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)
    EDITABLE = (Status.UPLOADED, Status.MAPPED, Status.VALIDATED)

    object_type = models.CharField(max_length=20, choices=ObjectType.choices)
    file_name = models.CharField(max_length=255)
    file_size = models.BigIntegerField(default=0)
    encoding = models.CharField(max_length=20, help_text="The codec the file was read with.")
    delimiter = models.CharField(max_length=1)
    headers = models.JSONField(default=list, help_text="The file's column names, in order.")
    # One entry per column: our field name ("email", "custom.plan") or "" (ignored).
    mapping = models.JSONField(default=list)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.UPSERT)
    match_on = models.CharField(max_length=20, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.UPLOADED)
    total_rows = models.PositiveIntegerField(default=0, help_text="Data records, the header excluded.")
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    # The checkpoint: the 0-based index of the first data record not yet applied.
    next_row = models.PositiveIntegerField(default=0)
    lease_owner = models.CharField(max_length=120, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    recoveries = models.PositiveSmallIntegerField(
        default=0, help_text="How often the job was taken over after its worker stopped answering."
    )
    failure = models.TextField(blank=True, help_text="Why the whole job stopped, for the person who ran it.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-created_at", "-id"], name="import_job_org_created_idx"),
            models.Index(
                fields=["status", "lease_expires_at"],
                name="import_job_active_idx",
                condition=models.Q(status__in=["queued", "running"]),
            ),
        ]

    def __str__(self):
        return f"Import {self.pk}: {self.file_name}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def is_editable(self) -> bool:
        return self.status in self.EDITABLE

    @property
    def match_label(self) -> str:
        return dict(MATCH_KEYS.get(self.object_type, [])).get(self.match_on, "")

    @property
    def percent(self) -> int:
        if not self.total_rows:
            return 100 if self.is_finished else 0
        return min(100, int(self.processed_rows * 100 / self.total_rows))


class ImportFileChunk(OrgOwned):
    """A slice of an uploaded file; the file is the chunks of a job in `index` order."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="import_chunk_unique")]


class ImportRowError(OrgOwned):
    """A data row that was not applied: its cells as uploaded and every problem found in it."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    row_number = models.PositiveIntegerField(help_text="Spreadsheet row: the header is row 1.")
    values = models.JSONField(help_text="The row's cells, in the file's column order.")
    errors = models.JSONField(help_text="[[column header, reason], ...]")

    class Meta:
        ordering = ["job", "row_number"]
        indexes = [models.Index(fields=["job", "row_number"], name="import_row_error_idx")]
