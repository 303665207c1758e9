"""Technology: the stack is connected (API keys, webhooks), automated (journeys) and tracked (UTM)."""

import datetime

from django.db.models import Count, Q

from apps.accounts.models import ApiKey
from apps.execution.models import Journey
from apps.execution.models.journeys import JourneyMotion, JourneyStatus
from apps.execution.services import utm
from apps.integrations.models import WebhookEndpoint
from apps.records.models import Touchpoint

from .evidence import Context, Evidence, counted

KEY_USE_DAYS = 7


def api_keys(ctx: Context) -> Evidence:
    active = (
        ApiKey.objects.for_org(ctx.org)
        .filter(revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=ctx.now))
    )
    recent = Q(last_used_at__gte=ctx.now - datetime.timedelta(days=KEY_USE_DAYS), last_used_at__lte=ctx.now)
    idle = active.exclude(recent).order_by("name")
    total = active.count()
    return counted(
        total - idle.count(),
        total,
        "active API keys were used in the last 7 days",
        idle.values_list("name", flat=True)[:5],
    )


def webhooks(ctx: Context) -> Evidence:
    endpoints = WebhookEndpoint.objects.for_org(ctx.org)
    unhealthy = endpoints.filter(Q(is_active=False) | Q(consecutive_failures__gt=0)).order_by("url")
    total = endpoints.count()
    return counted(
        total - unhealthy.count(),
        total,
        "webhook endpoints are active with no failing deliveries",
        unhealthy.values_list("url", flat=True)[:5],
    )


def journeys(ctx: Context) -> Evidence:
    running = set(
        Journey.objects.for_org(ctx.org).filter(status=JourneyStatus.ACTIVE).values_list("motion", flat=True)
    )
    missing = [label for value, label in JourneyMotion.choices if value not in running]
    covered = len(JourneyMotion.choices) - len(missing)
    evidence = counted(covered, len(JourneyMotion.choices), "motions have a running journey")
    evidence.records = [f"No running {label.lower()} journey" for label in missing]
    return evidence


def tracking(ctx: Context) -> Evidence:
    taxonomy = utm.taxonomy_for(ctx.org)
    filters = utm.violation_filters(taxonomy)
    broken = Q(pk__in=[])
    for condition in filters.values():
        broken |= condition
    tagged = (
        Touchpoint.objects.for_org(ctx.org)
        .filter(utm.TAGGED)
        .filter(occurred_at__gte=ctx.since, occurred_at__lt=ctx.now)
    )
    counts = tagged.aggregate(total=Count("pk"), broken=Count("pk", filter=broken))
    ctx.cache["utm"] = counts
    examples = (
        tagged.filter(broken).order_by("utm_campaign").values_list("utm_campaign", flat=True).distinct()[:5]
    )
    return counted(
        counts["total"] - counts["broken"],
        counts["total"],
        "tagged touchpoints of the last 90 days follow the UTM taxonomy",
        [value or "(no utm_campaign)" for value in examples],
    )


MEASURES = {
    "technology.api_keys": api_keys,
    "technology.webhooks": webhooks,
    "technology.journeys": journeys,
    "technology.tracking": tracking,
}
