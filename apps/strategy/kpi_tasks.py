"""The KPI tree's tasks: thin (take ids, call a service), safe to run twice; listed in apps.strategy.tasks."""

from celery import shared_task

from apps.accounts.models import Organization

from .services import kpi


@shared_task(name="strategy.kpi_refresh_due", time_limit=120, soft_time_limit=110)
def kpi_refresh_due():
    """Queue a status refresh of every organisation that has a KPI tree."""
    for org_id in kpi.organizations_with_kpis().values_list("pk", flat=True):
        kpi_refresh_organization.delay(org_id)


@shared_task(name="strategy.kpi_refresh_organization", time_limit=600, soft_time_limit=570)
def kpi_refresh_organization(organization_id: int):
    org = Organization.objects.filter(pk=organization_id).first()
    if org is None:
        return None
    result = kpi.kpi_refresh_statuses(org=org)
    return {"changed": result.changed, "alerted": result.alerted}
