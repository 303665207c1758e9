"""Background jobs: queue once, claim once, report progress, survive a lost enqueue."""

import logging
from collections.abc import Callable
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from apps.quality.models import QualityJob

logger = logging.getLogger(__name__)

# A running job that has not reported progress for this long lost its worker
# (killed, redeployed); it is marked failed so a new request can run.
STALE_AFTER = timedelta(minutes=30)
# A queued job older than this was probably never enqueued (Redis down at commit).
SWEEP_AFTER = timedelta(minutes=2)


@transaction.atomic
def job_request(*, org, kind: str, object_type: str = "", actor=None) -> QualityJob:
    """Queue a job, or return the identical one already waiting; the task is enqueued on commit."""
    now = timezone.now()
    QualityJob.objects.for_org(org).filter(
        kind=kind, object_type=object_type, status=QualityJob.Status.RUNNING, updated_at__lt=now - STALE_AFTER
    ).update(
        status=QualityJob.Status.FAILED,
        error="The worker stopped before finishing; run it again.",
        finished_at=now,
        updated_at=now,
    )
    job, created = QualityJob.objects.get_or_create(
        organization=org,
        kind=kind,
        object_type=object_type,
        status=QualityJob.Status.QUEUED,
        defaults={"requested_by": actor},
    )
    if created:
        transaction.on_commit(lambda: _enqueue(org.pk, job.pk))
    return job


def _enqueue(org_id: int, job_id: int) -> None:
    from apps.quality.tasks import run_job

    try:
        run_job.delay(org_id, job_id)
    except Exception:  # Redis down: jobs_sweep picks the queued row up later.
        logger.warning("could not enqueue quality job %s; the sweep will retry", job_id, exc_info=True)


def job_run(*, org_id: int, job_id: int) -> QualityJob | None:
    """Claim a queued job and run it; None when another worker claimed it first (safe to call twice)."""
    from .completeness import completeness_recompute
    from .sources import sources_reapply

    now = timezone.now()
    claimed = QualityJob.objects.filter(
        organization_id=org_id, pk=job_id, status=QualityJob.Status.QUEUED
    ).update(status=QualityJob.Status.RUNNING, started_at=now, updated_at=now)
    if not claimed:
        return None
    job = QualityJob.objects.select_related("organization").get(organization_id=org_id, pk=job_id)
    progress = _progress_recorder(job)
    try:
        if job.kind == QualityJob.Kind.SOURCES_REAPPLY:
            result = sources_reapply(org=job.organization, progress=progress)
        else:
            result = completeness_recompute(
                org=job.organization, object_type=job.object_type, progress=progress
            )
    except Exception as exc:
        logger.exception("quality job %s failed", job.pk)
        _finish(job, status=QualityJob.Status.FAILED, error=str(exc)[:500])
        raise
    _finish(job, status=QualityJob.Status.DONE, result=result)
    return job


def _progress_recorder(job: QualityJob) -> Callable[[int, int], None]:
    def record(done: int, total: int) -> None:
        QualityJob.objects.filter(pk=job.pk).update(
            steps_done=done, steps_total=total, updated_at=timezone.now()
        )

    return record


def _finish(job: QualityJob, *, status: str, result=None, error: str = "") -> None:
    now = timezone.now()
    fields = {"status": status, "finished_at": now, "updated_at": now, "error": error}
    if result is not None:
        fields["result"] = result
    QualityJob.objects.filter(pk=job.pk).update(**fields)
    job.refresh_from_db()


def jobs_sweep() -> list[tuple[int, int]]:
    """(org id, job id) of queued jobs whose enqueue was lost; the task enqueues them again."""
    cutoff = timezone.now() - SWEEP_AFTER
    return list(
        QualityJob.objects.filter(status=QualityJob.Status.QUEUED, created_at__lt=cutoff).values_list(
            "organization_id", "pk"
        )[:100]
    )
