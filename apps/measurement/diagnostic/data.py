"""Data: the records can be trusted (complete, deduplicated, mapped, defined)."""

from django.db.models import Count, Q

from apps.quality import selectors as quality
from apps.records.models import Lead, LifecycleStage, ObjectType, Touchpoint
from apps.strategy.models import KpiNode

from .evidence import Context, Evidence, counted

SOURCE_FIELDS = ("source", "utm_source", "utm_medium")


def completeness(ctx: Context) -> Evidence:
    """The data-quality page's summary: complete is the score threshold met, nothing required missing."""
    summary = quality.completeness_summary(org=ctx.org, object_type=ObjectType.LEAD)
    fields = sorted(
        summary.fields, key=lambda fill: (fill.filled / fill.total if fill.total else 1, fill.label)
    )
    weakest = [f"{fill.label}: {fill.percent} % filled" for fill in fields if fill.total][:5]
    return counted(summary.complete, summary.records, "leads are complete", weakest)


def duplicates(ctx: Context) -> Evidence:
    leads = Lead.objects.for_org(ctx.org).filter(merged_into__isnull=True).count()
    waiting = quality.duplicate_queue(org=ctx.org)
    pairs = waiting.count()
    ctx.cache["duplicates"] = pairs
    if not leads:
        return Evidence(None, "No leads yet: nothing to measure.")
    ratio = max(0.0, 1 - pairs / leads)
    names = [f"{pair.lead} / {pair.other}" for pair in waiting[:5]]
    return Evidence(
        ratio,
        f"{pairs} open duplicate pairs among {leads} leads ({round(100 * pairs / leads, 1)} %).",
        names,
        pairs,
        leads,
    )


def _value_uses(model, org, **extra) -> int:
    aggregates = {name: Count("pk", filter=~Q(**{name: ""})) for name in SOURCE_FIELDS}
    row = model.objects.for_org(org).filter(**extra).aggregate(**aggregates)
    return sum(row.values())


def unmapped(ctx: Context) -> Evidence:
    """Uses of raw source / UTM values with no source mapping, against all uses of non-empty values."""
    found, distinct = quality.unmapped_sources(org=ctx.org, limit=1000)
    unmapped_uses = sum(item.uses for item in found)
    total = _value_uses(Lead, ctx.org, merged_into__isnull=True) + _value_uses(Touchpoint, ctx.org)
    ctx.cache["unmapped"] = distinct
    evidence = counted(
        max(total - unmapped_uses, 0),
        total,
        "uses of source and UTM values map to a channel",
        [f"{item.value} ({item.uses} uses)" for item in found],
    )
    if total:
        evidence.summary += f" {distinct} distinct values have no mapping."
    return evidence


def stage_criteria(ctx: Context) -> Evidence:
    stages = list(
        LifecycleStage.objects.for_org(ctx.org).order_by("order").values_list("name", "entry_criteria")
    )
    missing = [name for name, criteria in stages if not (criteria or "").strip()]
    return counted(
        len(stages) - len(missing), len(stages), "lifecycle stages have written entry criteria", missing
    )


def metric_definitions(ctx: Context) -> Evidence:
    nodes = KpiNode.objects.for_org(ctx.org)
    undefined = nodes.filter(metric="", description="").order_by("name")
    total = nodes.count()
    return counted(
        total - undefined.count(),
        total,
        "KPI-tree nodes are bound to a defined metric or described",
        undefined.values_list("name", flat=True)[:5],
    )


MEASURES = {
    "data.completeness": completeness,
    "data.duplicates": duplicates,
    "data.unmapped": unmapped,
    "data.stage_criteria": stage_criteria,
    "data.metric_definitions": metric_definitions,
}
