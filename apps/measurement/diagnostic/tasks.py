"""The diagnostic's tasks: thin, and safe to run twice: a day's snapshot is replaced.

Registered through apps.measurement.tasks, which Celery discovers."""

from celery import shared_task

from apps.accounts.models import Organization

from . import snapshot


@shared_task(name="measurement.diagnostic_nightly", time_limit=120, soft_time_limit=110)
def diagnostic_nightly():
    """Queue the recompute of every organisation whose night has passed and has no snapshot of its day yet."""
    for org_id in snapshot.organizations_due():
        diagnostic_organization.delay(org_id)


@shared_task(name="measurement.diagnostic_organization", time_limit=600, soft_time_limit=570)
def diagnostic_organization(organization_id: int):
    org = Organization.objects.filter(pk=organization_id).first()
    if org is None:
        return None
    taken = snapshot.take(org)
    return {"taken_on": taken.taken_on.isoformat(), "quadrant": taken.quadrant, "scores": taken.scores}


@shared_task(name="measurement.diagnostic_history", time_limit=900, soft_time_limit=870)
def diagnostic_history(organization_id: int, weeks: int):
    """Weekly snapshots for the `weeks` weeks before today (the demo's trend): each a few seconds, so
    they are taken by a worker once the product runs, not while it starts."""
    org = Organization.objects.filter(pk=organization_id).first()
    if org is None:
        return None
    return [taken.taken_on.isoformat() for taken in snapshot.take_weeks_before(org, weeks)]
