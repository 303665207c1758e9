"""The CSV import: upload, mapping, preview, start, run, cancel, and the sweep for stalled jobs.

How a run stays exactly-once
----------------------------
A job is run by whoever *claims* it: one conditional UPDATE moves it from
queued (or running with a lapsed lease) to running with a lease owned by the
claimer. The file is then read from its checkpoint `next_row` in batches of
IMPORT_BATCH_ROWS rows. Each batch is ONE transaction that

1. locks the job row and checks that the lease is still ours and the
   checkpoint is where we left it (else another worker owns the job: stop);
2. applies the batch's valid rows (writers.apply_rows) and records its failed
   rows (ImportRowError);
3. advances `next_row`, the counts and the lease.

A worker killed at any point loses at most its uncommitted batch, which
Postgres rolls back. Its lease lapses after IMPORT_LEASE_SECONDS; the periodic
sweep (`imports_sweep`) queues the job again and the next worker resumes at the
checkpoint, so every row is applied once. Two workers never apply the same
batch: the second one's claim fails while the lease is fresh, and the row lock
plus the checkpoint check stop a worker whose lease was taken over.

A Celery task runs a job for at most IMPORT_SLICE_SECONDS, then hands it back
to the queue (status queued, lease released) and enqueues the next slice, so a
long import never meets the task time limit and shares workers with others.
"""

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import islice

import pghistory
from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from apps.core.errors import ServiceError
from apps.execution.services import utm

from . import mapping as mapping_module
from . import sql
from .models import MATCH_KEYS, ImportFileChunk, ImportJob, ImportRowError, Mode, ObjectType
from .prefetch import prefetched
from .reading import FileFormat, FileProblem, column_label, data_rows, file_blocks, inspect
from .validation import RowValidator
from .writers import Context, Outcome, Row, apply_rows

logger = logging.getLogger(__name__)

CHUNK_BYTES = 4 * 1024 * 1024
PREVIEW_ROWS = 5000
PREVIEW_PROBLEMS = 200
MAX_RECOVERIES = 5
ANALYZE_AFTER_ROWS = 20_000


def max_bytes() -> int:
    return getattr(settings, "IMPORT_MAX_BYTES", 50 * 1024 * 1024)


def batch_rows() -> int:
    return getattr(settings, "IMPORT_BATCH_ROWS", 5000)


def lease_seconds() -> int:
    return getattr(settings, "IMPORT_LEASE_SECONDS", 60)


def slice_seconds() -> int:
    return getattr(settings, "IMPORT_SLICE_SECONDS", 120)


class LeaseLost(Exception):
    """Another process owns the job now (or it was cancelled): stop without writing."""


# --- Reading a stored job -------------------------------------------------------------


def stored_blocks(job: ImportJob) -> Callable[[], Iterator[bytes]]:
    """The job's file as a re-openable stream of blocks, one chunk in memory at a time."""

    def blocks():
        chunks = ImportFileChunk.objects.for_org(job.organization_id).filter(job=job)
        for pk in list(chunks.order_by("index").values_list("pk", flat=True)):
            data = chunks.filter(pk=pk).values_list("data", flat=True).first()
            if data is None:  # deleted under us: the import was cancelled or finished meanwhile
                raise FileProblem("The uploaded file is no longer stored; upload it again to import it.")
            yield bytes(data)

    return blocks


def file_format(job: ImportJob) -> FileFormat:
    return FileFormat(
        encoding=job.encoding, delimiter=job.delimiter, headers=job.headers, total_rows=job.total_rows
    )


def job_fields(job: ImportJob) -> dict:
    """Every field a column of this job may feed, by name."""
    customs = mapping_module.custom_fields(org=job.organization, object_type=job.object_type)
    return mapping_module.catalogue(object_type=job.object_type, customs=customs)


def _validator(job: ImportJob, org) -> RowValidator:
    from apps.records.models import LifecycleStage

    customs = mapping_module.custom_fields(org=org, object_type=job.object_type)
    taxonomy = utm.ingest_taxonomy(org) if job.object_type == ObjectType.LEAD else None
    return RowValidator(
        object_type=job.object_type,
        headers=job.headers,
        mapping=job.mapping,
        fields=mapping_module.catalogue(object_type=job.object_type, customs=customs),
        stages=list(LifecycleStage.objects.for_org(org).order_by("order")),
        customs=customs,
        # Read once per preview or run; given only when enforced, so other imports skip the check.
        utm_taxonomy=taxonomy if taxonomy is not None and taxonomy.enforce_at_ingest else None,
    )


def sample_rows(job: ImportJob, *, limit: int = 5) -> list[list[str]]:
    """The first data rows, for the mapping page."""
    if not ImportFileChunk.objects.for_org(job.organization_id).filter(job=job).exists():
        return []
    return [cells for _, cells in islice(data_rows(stored_blocks(job), file_format(job)), limit)]


# --- Upload, mapping, preview, start, cancel ----------------------------------------------


@transaction.atomic
def import_upload(
    *, org, actor, file, file_name: str, object_type: str, limit: int | None = None
) -> ImportJob:
    """Check a file and store it with an automatic column mapping; raises ServiceError for a bad file."""
    if object_type not in ObjectType.values:
        raise ServiceError("Choose what the file holds: leads or accounts.", field="object_type")
    limit = max_bytes() if limit is None else limit
    size = file.size if hasattr(file, "size") else _size_of(file)
    if size > limit:
        raise ServiceError(
            f"The file is {filesizeformat(size)}; the largest file you can import is "
            f"{filesizeformat(limit)}. Split it into smaller files and import them one after another.",
            code="too_large",
            field="file",
        )
    try:
        fmt = inspect(file_blocks(file), size=size)
    except FileProblem as exc:
        raise ServiceError(exc.message, code="bad_file", field="file") from None
    customs = mapping_module.custom_fields(org=org, object_type=object_type)
    job = ImportJob.objects.create(
        organization=org,
        object_type=object_type,
        file_name=(file_name or "upload.csv")[:255],
        file_size=size,
        encoding=fmt.encoding,
        delimiter=fmt.delimiter,
        headers=fmt.headers,
        mapping=mapping_module.auto_map(fmt.headers, object_type=object_type, customs=customs),
        match_on=MATCH_KEYS[object_type][0][0],
        total_rows=fmt.total_rows,
        created_by=actor,
    )
    for index, block in enumerate(file_blocks(file, size=CHUNK_BYTES)()):
        ImportFileChunk.objects.create(organization=org, job=job, index=index, data=block)
    return job


def _size_of(file) -> int:
    file.seek(0, 2)
    size = file.tell()
    file.seek(0)
    return size


def _require_editable(job: ImportJob) -> None:
    if not job.is_editable:
        raise ServiceError(
            f"This import is {job.get_status_display().lower()}; "
            "its mapping and options can no longer change.",
            code="not_editable",
        )


@transaction.atomic
def import_set_mapping(*, org, job: ImportJob, mapping: list[str]) -> ImportJob:
    _require_editable(job)
    if len(mapping) != len(job.headers):
        raise ServiceError("The mapping must name one field (or none) per column.", field="mapping")
    problems = mapping_module.check_mapping(mapping, headers=job.headers, fields=job_fields(job))
    if problems:
        raise ServiceError(" ".join(problems), field="mapping")
    job.mapping = list(mapping)
    job.status = ImportJob.Status.MAPPED
    job.save(update_fields=["mapping", "status", "updated_at"])
    return job


def _check_options(job: ImportJob, mode: str, match_on: str) -> None:
    if mode not in Mode.values:
        raise ServiceError("Choose create, update or upsert.", field="mode")
    keys = dict(MATCH_KEYS[job.object_type])
    if match_on not in keys:
        raise ServiceError(
            f"Match {job.get_object_type_display().lower()} on {' or '.join(keys.values())}.",
            field="match_on",
        )
    if mode != Mode.CREATE and match_on not in job.mapping:
        raise ServiceError(
            f"No column is mapped to {keys[match_on]}, so rows cannot be matched to existing records. "
            f"Map that column, or choose another match key.",
            field="match_on",
        )


@dataclass
class Preview:
    checked: int = 0
    total: int = 0
    creates: int = 0
    updates: int = 0
    error_rows: int = 0
    problems: list[tuple[int, str, str]] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)

    @property
    def partial(self) -> bool:
        return self.checked < self.total


def import_preview(*, org, job: ImportJob, mode: str, match_on: str, limit: int = PREVIEW_ROWS) -> Preview:
    """Validate and plan the first `limit` rows without writing any record."""
    _check_options(job, mode, match_on)
    preview = Preview(total=job.total_rows)
    preview.unmapped = [column_label(job.headers, i) for i, name in enumerate(job.mapping) if not name]
    validator = _validator(job, org)
    ctx = Context(org=org, object_type=job.object_type, mode=mode, match_on=match_on, validator=validator)
    rows = []
    try:
        for number, cells in islice(data_rows(stored_blocks(job), file_format(job)), limit):
            values, errors = validator.validate(cells)
            rows.append(Row(number, cells, values, errors))
    except FileProblem as exc:
        raise ServiceError(exc.message, code="bad_file") from None
    outcome = apply_rows(ctx, rows, write=False)
    preview.checked = len(rows)
    preview.creates, preview.updates = outcome.created, outcome.updated
    preview.error_rows = len(outcome.failed)
    for row in outcome.failed:
        for column, reason in row.errors:
            if len(preview.problems) < PREVIEW_PROBLEMS:
                preview.problems.append((row.number, column, reason))
    if job.is_editable and job.status != ImportJob.Status.VALIDATED:
        ImportJob.objects.filter(pk=job.pk, status__in=ImportJob.EDITABLE).update(
            status=ImportJob.Status.VALIDATED, updated_at=timezone.now()
        )
        job.status = ImportJob.Status.VALIDATED
    return preview


@transaction.atomic
def import_start(*, org, job: ImportJob, mode: str, match_on: str, enqueue: bool = True) -> ImportJob:
    """Queue the job; a worker picks it up once this transaction commits."""
    _require_editable(job)
    _check_options(job, mode, match_on)
    problems = mapping_module.check_mapping(job.mapping, headers=job.headers, fields=job_fields(job))
    if problems:
        raise ServiceError(" ".join(problems), field="mapping")
    now = timezone.now()
    updated = ImportJob.objects.filter(pk=job.pk, organization=org, status__in=ImportJob.EDITABLE).update(
        mode=mode, match_on=match_on, status=ImportJob.Status.QUEUED, queued_at=now, updated_at=now
    )
    if not updated:
        raise ServiceError("This import was started or cancelled meanwhile.", code="not_editable")
    job.refresh_from_db()
    if enqueue:
        transaction.on_commit(lambda: _enqueue(job))
    return job


def _enqueue(job: ImportJob) -> None:
    from .tasks import run_job

    try:
        run_job.delay(job.organization_id, job.pk)
    except Exception:  # Redis down: the sweep enqueues queued jobs it finds waiting
        logger.warning(
            "could not enqueue import %s; the periodic sweep will pick it up", job.pk, exc_info=True
        )


@transaction.atomic
def import_cancel(*, org, job: ImportJob) -> bool:
    """Stop a job. Batches already committed stay; the one in flight finishes first (it holds the row)."""
    now = timezone.now()
    cancelled = (
        ImportJob.objects.filter(pk=job.pk, organization=org)
        .exclude(status__in=ImportJob.FINISHED)
        .update(
            status=ImportJob.Status.CANCELLED,
            finished_at=now,
            lease_owner="",
            lease_expires_at=None,
            updated_at=now,
        )
    )
    if cancelled:
        ImportFileChunk.objects.for_org(org).filter(job=job).delete()
    job.refresh_from_db()
    return bool(cancelled)


# --- Running --------------------------------------------------------------------------------


def import_run(
    *,
    org_id: int,
    job_id: int,
    owner: str,
    budget_seconds: float | None = None,
    on_batch: Callable[[ImportJob], None] | None = None,
) -> str:
    """Claim the job and apply its batches from the checkpoint on.

    Returns "succeeded", "failed", "released" (the time budget ran out; the job
    is queued again), "lost" (another process or a cancel took the job) or
    "not_claimed" (someone else holds a fresh lease, or nothing is left to run).
    """
    if not _claim(org_id=org_id, job_id=job_id, owner=owner):
        return "not_claimed"
    job = ImportJob.objects.select_related("organization").get(pk=job_id, organization_id=org_id)
    org = job.organization
    deadline = time.monotonic() + budget_seconds if budget_seconds else None
    try:
        validator = _validator(job, org)
        ctx = Context(
            org=org,
            object_type=job.object_type,
            mode=job.mode,
            match_on=job.match_on,
            validator=validator,
            actor_id=job.created_by_id,
            job_id=job.pk,
        )
        rows = data_rows(stored_blocks(job), file_format(job), start=job.next_row)
        batches = prefetched(_batches(ctx, rows, batch_rows()))
        analyze_after = ANALYZE_AFTER_ROWS
        with closing(batches), pghistory.context(import_job=job.pk, user=job.created_by_id):
            for batch, validated in batches:
                job = _apply_batch(job, ctx, batch, validated, owner)
                if job.created_count >= analyze_after:  # at 20k, 40k, 80k, … rows: a few per run
                    sql.analyze(ctx.model)
                    analyze_after *= 2
                if on_batch:
                    on_batch(job)
                _forget_queries()
                if deadline and time.monotonic() > deadline:
                    return "released" if import_release(job=job, owner=owner) else "lost"
        return "succeeded" if _finish(job, owner) else "lost"
    except LeaseLost:
        return "lost"
    except FileProblem as exc:
        return _fail(job, owner, exc.message)
    except (IntegrityError, DataError) as exc:
        logger.exception("import %s: a batch could not be written", job_id)
        return _fail(job, owner, f"A batch could not be written ({type(exc).__name__}).")
    except Exception as exc:
        from django.db import InterfaceError, OperationalError

        if isinstance(exc, (OperationalError, InterfaceError)):
            # The database went away: leave the lease to lapse; the sweep resumes the job.
            raise
        if type(exc).__name__ == "SoftTimeLimitExceeded":
            import_release(job=job, owner=owner)
            raise
        logger.exception("import %s failed", job_id)
        return _fail(job, owner, f"The import stopped unexpectedly ({type(exc).__name__}).")


def _claim(*, org_id: int, job_id: int, owner: str) -> bool:
    now = timezone.now()
    return bool(
        ImportJob.objects.filter(pk=job_id, organization_id=org_id)
        .filter(
            Q(status=ImportJob.Status.QUEUED) | Q(status=ImportJob.Status.RUNNING, lease_expires_at__lt=now)
        )
        .update(
            status=ImportJob.Status.RUNNING,
            lease_owner=owner[:120],
            lease_expires_at=now + timedelta(seconds=lease_seconds()),
            started_at=Coalesce(F("started_at"), now),
            updated_at=now,
        )
    )


def _locked(job: ImportJob, owner: str) -> ImportJob:
    """The job row, locked for this transaction, if we still own it."""
    current = ImportJob.objects.select_for_update().get(pk=job.pk, organization_id=job.organization_id)
    if current.status != ImportJob.Status.RUNNING or current.lease_owner != owner[:120]:
        raise LeaseLost
    if current.next_row != job.next_row:
        raise LeaseLost  # someone else applied batches meanwhile
    current.organization = job.organization
    return current


def _validated(ctx: Context, batch) -> list[Row]:
    rows = []
    validate = ctx.validator.validate
    for number, cells in batch:
        values, errors = validate(cells)
        rows.append(Row(number, cells, values, errors))
    return rows


def _batches(ctx: Context, rows, size: int):
    """(raw rows, validated rows) per batch: the reading and checking that prefetch runs ahead."""
    while batch := list(islice(rows, size)):
        yield batch, _validated(ctx, batch)


def _apply_batch(job: ImportJob, ctx: Context, batch, rows: list[Row], owner: str) -> ImportJob:
    with transaction.atomic():
        job = _locked(job, owner)
        with connection.cursor() as cursor:
            # The batch and its checkpoint commit together, so if the server crashed before
            # flushing this commit, both would be lost and the batch simply applied again.
            # Waiting for the WAL flush on each batch would buy nothing but time.
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        try:
            with transaction.atomic():
                outcome = apply_rows(ctx, rows)
        except (IntegrityError, DataError):
            # Something the checks did not foresee: find the row(s) by applying one at a time.
            logger.warning(
                "import %s: batch at row %s retried row by row", job.pk, batch[0][0], exc_info=True
            )
            outcome = _apply_one_by_one(ctx, batch)
        ImportRowError.objects.bulk_create(
            [
                ImportRowError(
                    organization_id=job.organization_id,
                    job=job,
                    row_number=row.number,
                    values=row.cells,
                    errors=[list(e) for e in row.errors],
                )
                for row in outcome.failed
            ]
        )
        now = timezone.now()
        job.next_row = batch[-1][0] - 1  # the last row number is its record index + 2
        job.processed_rows += len(batch)
        job.created_count += outcome.created
        job.updated_count += outcome.updated
        job.unchanged_count += outcome.unchanged
        job.error_count += len(outcome.failed)
        job.lease_expires_at = now + timedelta(seconds=lease_seconds())
        job.updated_at = now
        job.save(
            update_fields=[
                "next_row", "processed_rows", "created_count", "updated_count", "unchanged_count",
                "error_count", "lease_expires_at", "updated_at",
            ]
        )  # fmt: skip
    return job


def _apply_one_by_one(ctx: Context, batch) -> Outcome:
    outcome = Outcome()
    for row in _validated(ctx, batch):
        try:
            with transaction.atomic():
                outcome.add(apply_rows(ctx, [row]))
        except (IntegrityError, DataError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            row.errors = [("—", f"Could not be saved: {reason}")]
            outcome.failed.append(row)
    return outcome


def _forget_queries() -> None:
    # With DEBUG on, Django keeps every query (and its parameters) of a long run in memory.
    connection.queries_log.clear()


def _finish(job: ImportJob, owner: str) -> bool:
    with transaction.atomic():
        try:
            job = _locked(job, owner)
        except LeaseLost:
            return False
        now = timezone.now()
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.SUCCEEDED,
            finished_at=now,
            lease_owner="",
            lease_expires_at=None,
            updated_at=now,
        )
        ImportFileChunk.objects.for_org(job.organization_id).filter(job=job).delete()
    _recompute_segments(job.organization)
    return True


def _recompute_segments(org) -> None:
    """Imported rows skip the per-record segment upkeep; the segments are recomputed once instead."""
    from apps.strategy.segments.tasks import segments_recompute_organization
    from apps.strategy.services import segments

    if segments.has_segments(org):
        transaction.on_commit(lambda: segments_recompute_organization.delay(org.pk), robust=True)


def _fail(job: ImportJob, owner: str, message: str) -> str:
    now = timezone.now()
    with transaction.atomic():
        failed = ImportJob.objects.filter(
            pk=job.pk, status=ImportJob.Status.RUNNING, lease_owner=owner[:120]
        ).update(
            status=ImportJob.Status.FAILED,
            failure=message,
            finished_at=now,
            lease_owner="",
            lease_expires_at=None,
            updated_at=now,
        )
        if failed:
            ImportFileChunk.objects.for_org(job.organization_id).filter(job=job).delete()
    return "failed" if failed else "lost"


def import_release(*, job: ImportJob, owner: str, enqueue: bool = True) -> bool:
    """Give a running job back to the queue (its checkpoint stays) and enqueue the next slice."""
    with transaction.atomic():
        released = ImportJob.objects.filter(
            pk=job.pk, status=ImportJob.Status.RUNNING, lease_owner=owner[:120]
        ).update(
            status=ImportJob.Status.QUEUED,
            lease_owner="",
            lease_expires_at=None,
            queued_at=timezone.now(),
            updated_at=timezone.now(),
        )
        if released and enqueue:
            transaction.on_commit(lambda: _enqueue(job))
    return bool(released)


def imports_sweep() -> list[int]:
    """Queue again the jobs whose worker stopped renewing its lease; re-send lost queue messages.

    Runs from beat. Not scoped to one organisation: it only moves jobs between
    states and enqueues their ids; each task reloads its job within its org.
    """
    now = timezone.now()
    lease = timedelta(seconds=lease_seconds())
    requeued = []
    lapsed = ImportJob.objects.filter(status=ImportJob.Status.RUNNING, lease_expires_at__lt=now)
    for job in lapsed.only("pk", "organization_id", "recoveries"):
        with transaction.atomic():
            still = ImportJob.objects.filter(
                pk=job.pk, status=ImportJob.Status.RUNNING, lease_expires_at__lt=now
            )
            if job.recoveries >= MAX_RECOVERIES:
                still.update(
                    status=ImportJob.Status.FAILED,
                    failure=(
                        f"The import was interrupted {job.recoveries + 1} times (its worker stopped "
                        "answering each time) and was given up. The batches already imported stay; "
                        "import the remaining rows again, in smaller files if this repeats."
                    ),
                    finished_at=now,
                    lease_owner="",
                    lease_expires_at=None,
                    updated_at=now,
                )
                continue
            if still.update(
                status=ImportJob.Status.QUEUED,
                lease_owner="",
                lease_expires_at=None,
                recoveries=F("recoveries") + 1,
                queued_at=now,
                updated_at=now,
            ):
                transaction.on_commit(lambda job=job: _enqueue(job))
                requeued.append(job.pk)
    # A queued job whose message never reached Redis (or was lost with it) is sent again.
    waiting = ImportJob.objects.filter(status=ImportJob.Status.QUEUED, queued_at__lt=now - lease)
    for job in waiting.only("pk", "organization_id"):
        with transaction.atomic():
            if ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.QUEUED).update(queued_at=now):
                transaction.on_commit(lambda job=job: _enqueue(job))
                requeued.append(job.pk)
    return requeued
