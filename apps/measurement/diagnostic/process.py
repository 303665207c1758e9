"""Process: the work happens as promised (SLAs, hand-offs, campaign QA and launch, routing, no man's land)."""

from django.db.models import Count, Q

from apps.execution.models import Campaign, Handoff, QaResult, RoutingDecision
from apps.execution.selectors import campaigns as campaign_selectors
from apps.execution.selectors import stuck
from apps.execution.services import handoffs
from apps.measurement import store
from apps.measurement.metrics import engine
from apps.measurement.metrics.catalogue import BY_KEY as METRICS

from .evidence import Context, Evidence, counted


def sla_compliance(ctx: Context) -> Evidence:
    """The catalogue's SLA compliance over the window: the same number as the metric page."""
    result = engine.evaluate(ctx.org, METRICS["sla_compliance"], store.Window(ctx.start, ctx.today, None))
    if result.total is None:
        return Evidence(None, "No SLA clock came due in the last 90 days: nothing to measure.")
    return Evidence(
        result.total / 100, f"SLA compliance was {result.total:.1f} % over the last 90 days (metric engine)."
    )


def handoff_compliance(ctx: Context) -> Evidence:
    window = Handoff.objects.for_org(ctx.org).filter(created_at__gte=ctx.since, created_at__lt=ctx.now)
    result = handoffs.compliance(window, now=ctx.now)
    late = window.filter(Q(breached_at__isnull=False) | Q(status="pending", due_at__lt=ctx.now))
    names = [f"Hand-off #{pk}" for pk in late.order_by("-created_at").values_list("pk", flat=True)[:5]]
    return counted(
        result.met,
        result.met + result.breached,
        "hand-offs of the last 90 days that came due were answered in time",
        names,
    )


def campaign_qa(ctx: Context) -> Evidence:
    results = QaResult.objects.for_org(ctx.org).filter(
        item__active=True, campaign__requested_at__gte=ctx.since, campaign__requested_at__lt=ctx.now
    )
    counts = results.aggregate(total=Count("pk"), passed=Count("pk", filter=Q(passed=True)))
    failing = (
        results.filter(passed=False)
        .order_by("campaign__name", "item__position")
        .values_list("campaign__name", "item__label")[:5]
    )
    return counted(
        counts["passed"],
        counts["total"],
        "QA checks of campaigns requested in the last 90 days passed",
        [f"{campaign}: {label}" for campaign, label in failing],
    )


def on_time_launch(ctx: Context) -> Evidence:
    launched = Campaign.objects.for_org(ctx.org).filter(live_at__gte=ctx.since, live_at__lt=ctx.now)
    stats = campaign_selectors.launch_stats(org=ctx.org, queryset=launched)
    late = [
        campaign.name
        for campaign in launched.filter(due_date__isnull=False).order_by("live_at", "pk")
        if campaign_selectors.on_time(campaign, ctx.zone) is False
    ]
    return counted(
        stats.on_time,
        stats.with_due,
        "campaigns live in the last 90 days with a due date launched on time",
        late,
    )


def routed_by_rule(ctx: Context) -> Evidence:
    decisions = RoutingDecision.objects.for_org(ctx.org).filter(
        lead__isnull=False, created_at__gte=ctx.since, created_at__lt=ctx.now
    )
    counts = decisions.aggregate(total=Count("pk"), ruled=Count("pk", filter=Q(rule_index__isnull=False)))
    fallback = decisions.filter(rule_index__isnull=True).select_related("lead").order_by("-created_at")[:5]
    return counted(
        counts["ruled"],
        counts["total"],
        "routing decisions of the last 90 days were made by a rule",
        [str(decision.lead) for decision in fallback],
    )


def no_mans_land(ctx: Context) -> Evidence:
    """The hand-off "no man's land" detector with its default limits per stage."""
    thresholds = stuck.thresholds_from({}, org=ctx.org)
    stages = stuck.stage_counts(org=ctx.org, thresholds=thresholds, now=ctx.now).values()
    total, stuck_count = sum(s["open"] for s in stages), sum(s["stuck"] for s in stages)
    ctx.cache["stuck"] = stuck_count
    ctx.cache["unowned"] = sum(s["unowned"] for s in stages)
    found = stuck.stuck_leads(org=ctx.org, thresholds=thresholds, now=ctx.now)
    return counted(
        total - stuck_count,
        total,
        "working-funnel leads have an owner and are within their stage's limit",
        [str(lead) for lead in found[:5]],
    )


MEASURES = {
    "process.sla_compliance": sla_compliance,
    "process.handoff_compliance": handoff_compliance,
    "process.campaign_qa": campaign_qa,
    "process.on_time_launch": on_time_launch,
    "process.routed_by_rule": routed_by_rule,
    "process.no_mans_land": no_mans_land,
}
