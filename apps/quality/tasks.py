"""Thin tasks: take ids, reload within the organisation, call a service. Each is safe to run twice."""

from celery import shared_task

from apps.accounts.models import Organization

from . import services


@shared_task(name="quality.detect_duplicates", time_limit=1800, soft_time_limit=1700)
def detect_duplicates(org_id: int | None = None):
    """Flag new duplicate pairs in one organisation; without an id, queue one run per organisation.

    Re-running adds nothing: known pairs (in either orientation) are skipped.
    """
    if org_id is None:
        for pk in Organization.objects.order_by("pk").values_list("pk", flat=True):
            detect_duplicates.delay(pk)
        return None
    org = Organization.objects.filter(pk=org_id).first()
    if org is None:
        return None
    return services.duplicates_detect(org=org)


@shared_task(name="quality.run_job", time_limit=3600, soft_time_limit=3500)
def run_job(org_id: int, job_id: int):
    """Run a queued QualityJob (re-apply sources, recompute completeness); a claimed job is skipped."""
    job = services.job_run(org_id=org_id, job_id=job_id)
    return job.result if job else None


@shared_task(name="quality.sweep_jobs", time_limit=60, soft_time_limit=50)
def sweep_jobs():
    """Enqueue queued jobs whose on-commit enqueue never reached Redis."""
    for org_id, job_id in services.jobs_sweep():
        run_job.delay(org_id, job_id)
