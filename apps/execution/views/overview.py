"""The Execution section's front page: where each part of lead handling stands."""

from datetime import timedelta

from django.shortcuts import render
from django.utils import timezone

from apps.accounts.access import org_view
from apps.execution.models import Assignment, RoutingPool, SlaPolicy, SlaTimer
from apps.execution.services import policies


@org_view()
def execution_index(request):
    org = request.org
    since = timezone.now() - timedelta(days=7)
    published = policies.published_version(org)
    context = {
        "published": published,
        "rule_count": len(published.rules) if published else 0,
        "pool_count": RoutingPool.objects.for_org(org).count(),
        "sla_count": SlaPolicy.objects.for_org(org).filter(is_active=True).count(),
        "my_offers": (
            Assignment.objects.for_org(org)
            .filter(assignee=request.membership, status=Assignment.Status.OFFERED)
            .count()
        ),
        "offered": Assignment.objects.for_org(org).filter(status=Assignment.Status.OFFERED).count(),
        "breaches_week": SlaTimer.objects.for_org(org).filter(breached_at__gte=since).count(),
    }
    return render(request, "execution/overview.html", context)
