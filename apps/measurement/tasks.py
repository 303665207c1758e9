"""Thin tasks: take ids, call a service. Each is safe to run twice."""

from celery import shared_task

from apps.accounts.models import Organization

from .diagnostic.tasks import diagnostic_nightly, diagnostic_organization  # noqa: F401 (registered here)
from .services import backlog, rollup


@shared_task(name="measurement.rollup_due", time_limit=120, soft_time_limit=110)
def rollup_due():
    """Queue the nightly run of every organisation whose local midnight has passed."""
    for org in rollup.organizations_due():
        rollup_organization.delay(org.pk)


@shared_task(name="measurement.rollup_organization", time_limit=6 * 3600, soft_time_limit=6 * 3600 - 60)
def rollup_organization(organization_id: int, full: bool = False):
    org = Organization.objects.filter(pk=organization_id).first()
    if org is None:
        return None
    result = rollup.rollup(org, full=full)
    return {"days": result.days, "full": result.full, "skipped": result.skipped, "seconds": result.seconds}


@shared_task(name="measurement.count_backlogs", time_limit=120, soft_time_limit=110)
def count_backlogs():
    """Queue a recount of every organisation's no man's land (the red flag reads the last count)."""
    for pk in Organization.objects.order_by("pk").values_list("pk", flat=True):
        count_backlog.delay(pk)


@shared_task(name="measurement.count_backlog", time_limit=300, soft_time_limit=290)
def count_backlog(organization_id: int):
    org = Organization.objects.filter(pk=organization_id).first()
    if org is None:
        return None
    return backlog.count(org).total("stuck")
