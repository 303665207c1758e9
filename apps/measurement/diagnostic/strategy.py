"""Strategy: goals, an ICP and segments, positioning and offers, a KPI tree and a plan for the quarter."""

from django.db.models import Count, Exists, OuterRef

from apps.strategy.fiscal import fiscal_quarter_of, fiscal_quarter_range
from apps.strategy.models import Goal, KpiNode, KpiTarget, Offer, Positioning, Program, Segment
from apps.strategy.models.programs import ProgramStatus

from .evidence import Context, Evidence, counted


def current_quarter(ctx: Context):
    """(fiscal year, quarter, first day, last day) of the quarter containing the day."""
    if "quarter" not in ctx.cache:
        year, quarter = fiscal_quarter_of(ctx.org.fiscal_year_start_month, ctx.today)
        ctx.cache["quarter"] = (
            year,
            quarter,
            *fiscal_quarter_range(ctx.org.fiscal_year_start_month, year, quarter),
        )
    return ctx.cache["quarter"]


def goals(ctx: Context) -> Evidence:
    year, quarter, _, _ = current_quarter(ctx)
    found = Goal.objects.for_org(ctx.org).filter(fiscal_year=year, quarter=quarter).order_by("metric", "pk")
    names = [str(goal) for goal in found.select_related("team")[:5]]
    if not names:
        return Evidence(0.0, f"No revenue goal is set for FY{year} Q{quarter}.", [], 0, 1)
    return Evidence(1.0, f"{found.count()} revenue goals are set for FY{year} Q{quarter}.", names, 1, 1)


def icp_segments(ctx: Context) -> Evidence:
    segments = Segment.objects.for_org(ctx.org)
    total = segments.count()
    icp = segments.filter(is_icp=True).first()
    part = (icp is not None) + (total >= 2)
    missing = []
    if icp is None:
        missing.append("No segment is marked as the ICP")
    if total < 2:
        missing.append(f"{total} segment{'s' if total != 1 else ''} defined (two or more expected)")
    summary = (f"ICP: {icp.name}. " if icp else "No ICP marked. ") + f"{total} segments defined."
    return Evidence(part / 2, summary, missing, part, 2)


def positioning(ctx: Context) -> Evidence:
    positioned = (
        Positioning.objects.for_org(ctx.org).filter(segment=OuterRef("pk")).exclude(value_propositions=[])
    )
    offered = Offer.objects.for_org(ctx.org).filter(segment=OuterRef("pk"), active=True)
    segments = Segment.objects.for_org(ctx.org).annotate(
        positioned=Exists(positioned), offered=Exists(offered)
    )
    rows = list(segments.order_by("-is_icp", "name").values_list("name", "positioned", "offered"))
    missing = []
    for name, has_positioning, has_offer in rows:
        lacks = [
            what for what, ok in (("positioning", has_positioning), ("an active offer", has_offer)) if not ok
        ]
        if lacks:
            missing.append(f"{name}: no {' and no '.join(lacks)}")
    return counted(
        len(rows) - len(missing), len(rows), "segments have written positioning and an active offer", missing
    )


def kpi_tree(ctx: Context) -> Evidence:
    _, _, quarter_start, _ = current_quarter(ctx)
    targeted = KpiTarget.objects.filter(node=OuterRef("pk"), period_start__gte=quarter_start)
    nodes = KpiNode.objects.for_org(ctx.org).annotate(targeted=Exists(targeted))
    rows = list(nodes.order_by("name", "pk").values_list("name", "targeted", "owner_id"))
    missing = []
    for name, has_target, owner in rows:
        lacks = [what for what, ok in (("target this quarter", has_target), ("owner", owner)) if not ok]
        if lacks:
            missing.append(f"{name}: no {' and no '.join(lacks)}")
    return counted(
        len(rows) - len(missing), len(rows), "KPI-tree nodes have a target this quarter and an owner", missing
    )


def plan(ctx: Context) -> Evidence:
    year, quarter, first, last = current_quarter(ctx)
    programs = (
        Program.objects.for_org(ctx.org)
        .filter(start__lte=last, end__gte=first)
        .exclude(status=ProgramStatus.CANCELLED)
        .annotate(lines=Count("budget_lines"))
        .order_by("start", "name")
    )
    rows = list(programs.values_list("name", "lines", "rationale"))
    missing = []
    for name, lines, rationale in rows:
        lacks = [
            what for what, ok in (("budget line", lines), ("rationale", (rationale or "").strip())) if not ok
        ]
        if lacks:
            missing.append(f"{name}: no {' and no '.join(lacks)}")
    return counted(
        len(rows) - len(missing),
        len(rows),
        f"programs of FY{year} Q{quarter} have a budget line and a written rationale",
        missing,
    )


MEASURES = {
    "strategy.goals": goals,
    "strategy.icp_segments": icp_segments,
    "strategy.positioning": positioning,
    "strategy.kpi_tree": kpi_tree,
    "strategy.plan": plan,
}
