"""Hand-off tasks: creation enqueued on commit by the record services, and the beat sweep."""

from celery import shared_task

from apps.accounts.models import Organization

from .services import handoffs


@shared_task(name="execution.create_handoff_for_stage_event", time_limit=60, soft_time_limit=50)
def create_handoff_for_stage_event(organization_id: int, event_id: int):
    org = Organization.objects.filter(pk=organization_id).first()
    if org is not None:
        handoffs.handoff_for_stage_event(org=org, event_id=event_id)


@shared_task(name="execution.create_handoff_for_won", time_limit=60, soft_time_limit=50)
def create_handoff_for_won(organization_id: int, opportunity_id: int):
    org = Organization.objects.filter(pk=organization_id).first()
    if org is not None:
        handoffs.handoff_for_won(org=org, opportunity_id=opportunity_id)


@shared_task(name="execution.sweep_handoffs", time_limit=120, soft_time_limit=110)
def sweep_handoffs():
    return handoffs.handoffs_sweep()
