"""Thin tasks: take ids, call a service. Each is safe to run twice."""

from celery import shared_task

from apps.accounts.models import Organization
from apps.strategy.models import Segment
from apps.strategy.services import segments


@shared_task(name="strategy.segments_nightly", time_limit=300, soft_time_limit=290)
def segments_nightly():
    """Queue a full recompute of every organisation that has segments.

    Behaviour such as touches in the last 30 days changes with the clock alone,
    and bulk writes (imports) skip the per-record upkeep, so memberships are
    rebuilt every night."""
    for org_id in Segment.objects.values_list("organization_id", flat=True).distinct().order_by():
        segments_recompute_organization.delay(org_id)


@shared_task(
    name="strategy.segments_recompute_organization", time_limit=3 * 3600, soft_time_limit=3 * 3600 - 60
)
def segments_recompute_organization(organization_id: int):
    org = Organization.objects.filter(pk=organization_id).first()
    if org is None:
        return None
    results = segments.organization_recompute(org=org)
    return {key: result.members for key, result in results.items()}


@shared_task(name="strategy.segment_recompute", time_limit=3600, soft_time_limit=3540)
def segment_recompute(segment_id: int):
    """A segment saved or asked to recompute from a page or the API."""
    segment = Segment.objects.select_related("organization").filter(pk=segment_id).first()
    if segment is None:
        return None
    return segments.segment_recompute(org=segment.organization, segment=segment).members
