"""People: every part of the operating model has someone who answers for it."""

from django.db.models import Count, Q

from apps.execution.models import Handoff, SlaPolicy
from apps.governance.models import ActionItem
from apps.records.models import LifecycleStage
from apps.records.stages import FUNNEL
from apps.strategy.models import KpiNode, Segment

from .evidence import Context, Evidence, counted


def kpi_owners(ctx: Context) -> Evidence:
    nodes = KpiNode.objects.for_org(ctx.org)
    missing = nodes.filter(owner__isnull=True).order_by("name", "pk")
    total = nodes.count()
    return counted(
        total - missing.count(),
        total,
        "KPI-tree nodes have an owner",
        missing.values_list("name", flat=True)[:5],
    )


def stage_owners(ctx: Context) -> Evidence:
    stages = LifecycleStage.objects.for_org(ctx.org).filter(kind=FUNNEL)
    missing = stages.filter(owner_team__isnull=True).order_by("order")
    total = stages.count()
    return counted(
        total - missing.count(),
        total,
        "funnel stages have an owning team",
        missing.values_list("name", flat=True)[:5],
    )


def sla_owners(ctx: Context) -> Evidence:
    policies = SlaPolicy.objects.for_org(ctx.org).filter(is_active=True)
    missing = policies.filter(team__isnull=True).order_by("name")
    total = policies.count()
    return counted(
        total - missing.count(),
        total,
        "active SLA policies are scoped to a team",
        missing.values_list("name", flat=True)[:5],
    )


def segment_owners(ctx: Context) -> Evidence:
    segments = Segment.objects.for_org(ctx.org)
    missing = segments.filter(owner__isnull=True).order_by("name")
    total = segments.count()
    return counted(
        total - missing.count(), total, "segments have an owner", missing.values_list("name", flat=True)[:5]
    )


def actions_on_time(ctx: Context) -> Evidence:
    """Action items that fell due in the window (dropped ones excluded), done by the end of their due day."""
    due = (
        ActionItem.objects.for_org(ctx.org)
        .filter(due__gte=ctx.start, due__lte=ctx.today)
        .exclude(status="dropped")
        .order_by("due", "pk")
    )
    late = []
    on_time = 0
    for title, status, completed_at, day in due.values_list("title", "status", "completed_at", "due"):
        done_day = completed_at.astimezone(ctx.zone).date() if completed_at else None
        if status == "done" and done_day is not None and done_day <= day:
            on_time += 1
        else:
            late.append(title)
    return counted(
        on_time, on_time + len(late), "review action items due in the last 90 days were closed on time", late
    )


def handoff_receivers(ctx: Context) -> Evidence:
    handoffs = Handoff.objects.for_org(ctx.org).filter(created_at__gte=ctx.since, created_at__lt=ctx.now)
    counts = handoffs.aggregate(total=Count("pk"), named=Count("pk", filter=Q(receiver__isnull=False)))
    missing = handoffs.filter(receiver__isnull=True).order_by("-created_at").values_list("pk", flat=True)[:5]
    return counted(
        counts["named"],
        counts["total"],
        "hand-offs of the last 90 days name a receiver",
        [f"Hand-off #{pk}" for pk in missing],
    )


MEASURES = {
    "people.kpi_owners": kpi_owners,
    "people.stage_owners": stage_owners,
    "people.sla_owners": sla_owners,
    "people.segment_owners": segment_owners,
    "people.actions_on_time": actions_on_time,
    "people.handoff_receivers": handoff_receivers,
}
