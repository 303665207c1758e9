"""The weekly RevOps review's leading indicators: this period, the one before, and the plan's target.

Every value is the metric engine's total (apps.measurement.metrics.engine.evaluate),
so it equals the metric page, the metrics API and their CSV for the same range
and filters. `leading_indicators` returns plain JSON-ready dicts because an
operating review freezes the list into its snapshot.

Targets come from the primary saved plan of each fiscal quarter the window
touches (apps.strategy.services.plans): the plan's required volume of a month
is prorated by the window's days in that month. The indicators map to plan
stages as: new leads → the plan's first stage, MQLs → mql, SALs → sal, SQLs →
sql, pipeline created → opportunities required x the plan's deal size. A
window that reaches into a quarter without a primary plan has no target, and
neither has a filtered view (the plan is organisation-wide).
"""

import calendar
import datetime

from django.urls import NoReverseMatch, reverse

from apps.core.charts import bar_chart, line_chart
from apps.measurement import store
from apps.measurement.metrics import engine
from apps.measurement.metrics.catalogue import BY_KEY
from apps.measurement.redflags import red_flags_cached
from apps.strategy.fiscal import fiscal_quarter_of

from .base import (
    Cell,
    Chart,
    Dashboard,
    DashboardQuery,
    Table,
    drilldown_url,
    evaluate,
    facts_version,
    format_change,
    format_value,
    primary_plans_stamp,
    quarter_range,
    section,
    unavailable_note,
)

# (key, label, metric key, plan stage): the stage None has no plan target; "first" is the plan's top stage.
INDICATORS = (
    ("new_leads", "New leads", "leads", "first"),
    ("mqls", "MQLs", "mqls", "mql"),
    ("sals", "SALs", "sals", "sal"),
    ("sqls", "SQLs", "sqls", "sql"),
    ("pipeline_created", "Pipeline created", "pipeline_created", "opportunity"),
    ("speed_to_lead_p50", "Speed-to-lead p50", "speed_to_lead", None),
    ("speed_to_lead_p90", "Speed-to-lead p90", "speed_to_lead_p90", None),
    ("sla_compliance", "SLA compliance", "sla_compliance", None),
    ("reject_rate", "Reject rate", "reject_rate", None),
)


def leading_indicators(
    org,
    *,
    start: datetime.date,
    end: datetime.date,
    filters: dict | None = None,
    today: datetime.date | None = None,
    fresh: bool = False,
    version: str | None = None,
) -> list[dict]:
    """The leading indicators over start..end (inclusive), each as a JSON-serialisable dict:

    key, label, metric, unit, direction, value, previous (the same-length window before), target
    (None without a plan), change (value - previous), status ("better", "worse", "flat" or None),
    target_status ("ahead", "behind" or None), unavailable (why a filter cannot apply, else None)
    and `shown`: the same numbers as the pages print them.

    `filters` are parsed dashboard filters (engine.parse_filters); a filter an indicator cannot take
    leaves it without a value and says so in `unavailable`, it is never silently dropped. Values are
    cached until the next rollup (dashboards.base.cached; `version` is the facts' version when the
    caller has read it already); `fresh` recomputes them."""
    filters = filters or {}
    today = today or engine.local_today(org)
    query = DashboardQuery(org, start, end, "", True, filters, version or facts_version(org), fresh)
    parts = ["indicators", today, primary_plans_stamp(org)]
    return section(query, "leading_indicators", parts, lambda: _indicators(query, today))


def _indicators(query: DashboardQuery, today: datetime.date) -> list[dict]:
    org, start, end, filters = query.org, query.start, query.end, query.filters
    window = store.Window(start, end, None)
    targets = None if filters else plan_targets(org, start, end, today=today)
    out = []
    for key, label, metric_key, stage in INDICATORS:
        metric = BY_KEY[metric_key]
        reasons = engine.filter_errors(metric, filters)
        value = previous = None
        if not reasons:
            result = evaluate(query, metric_key, window, compare=True)
            value, previous = result["total"], result["total_previous"]
        target = None
        if targets is not None and stage is not None:
            target = targets.get(stage)
        out.append(_indicator(key, label, metric, value, previous, target, reasons))
    return out


def _indicator(key, label, metric, value, previous, target, reasons) -> dict:
    change = None if value is None or previous is None else round(value - previous, 6)
    status = None
    if change is not None:
        better = change > 0 if metric.direction == "higher" else change < 0
        status = "flat" if change == 0 else ("better" if better else "worse")
    target_status = None
    if value is not None and target is not None:
        ahead = value >= target if metric.direction == "higher" else value <= target
        target_status = "ahead" if ahead else "behind"
    unavailable = " ".join(reasons.values()) or None
    return {
        "key": key,
        "label": label,
        "metric": metric.key,
        "unit": metric.unit,
        "direction": metric.direction,
        "value": value,
        "previous": previous,
        "target": None if target is None else round(target, 2),
        "change": change,
        "status": status,
        "target_status": target_status,
        "unavailable": unavailable,
        "shown": {
            "value": "n/a" if unavailable else format_value(value, metric.unit),
            "previous": "n/a" if unavailable else format_value(previous, metric.unit),
            "target": format_value(target, metric.unit),
            "change": format_change(change, metric.unit),
        },
    }


# --- Plan targets ----------------------------------------------------------------------------------


def plan_targets(org, start: datetime.date, end: datetime.date, *, today=None) -> dict[str, float] | None:
    """{plan stage: target volume over start..end} ("first": the top stage; "opportunity" is pipeline in
    currency: volume x deal size). None when a quarter the window touches has no primary plan or its
    plan cannot be computed."""
    from apps.strategy.services.plans import plan_result, primary_plan

    today = today or engine.local_today(org)
    totals: dict[str, float] = {}
    day = start
    while day <= end:
        _, q_end = quarter_range(org, day)
        year, quarter = fiscal_quarter_of(org.fiscal_year_start_month, day)
        plan = primary_plan(org=org, fiscal_year=year, quarter=quarter)
        if plan is None:
            return None
        result = plan_result(org=org, plan=plan, today=today)
        if not result.ok:
            return None
        slice_end = min(end, q_end)
        deal_size = next((a.value for a in result.assumptions if a.name == "deal_size"), None)
        first = result.stages[0][0]
        for stage, rows in result.rows.items():
            volume = sum(row.required * _share(row.month, day, slice_end) for row in rows)
            if stage == "opportunity" and deal_size is not None:
                totals["pipeline"] = totals.get("pipeline", 0.0) + volume * deal_size
            totals[stage] = totals.get(stage, 0.0) + volume
            if stage == first:
                totals["first"] = totals.get("first", 0.0) + volume
        day = slice_end + datetime.timedelta(days=1)
    if "pipeline" in totals:
        totals["opportunity"] = totals.pop("pipeline")
    else:
        totals.pop("opportunity", None)
    return {stage: round(value, 6) for stage, value in totals.items()}


def _share(month: datetime.date, start: datetime.date, end: datetime.date) -> float:
    """The share of `month`'s days that fall within start..end."""
    days = calendar.monthrange(month.year, month.month)[1]
    last = month.replace(day=days)
    overlap = (min(last, end) - max(month, start)).days + 1
    return max(overlap, 0) / days


# --- The weekly review page ------------------------------------------------------------------------

COUNTS = ("new_leads", "mqls", "sals", "sqls")
STAGE_OF = {"mqls": "mql", "sals": "sal", "sqls": "sql"}
# The offers list's `show` behind each assignment figure (apps.execution.selectors.offers.SHOW).
OFFERS_SHOWN = {"speed_to_lead_p50": "first", "speed_to_lead_p90": "first", "sla_compliance": "sla"}


def weekly_review(query: DashboardQuery, *, today: datetime.date | None = None) -> Dashboard:
    """Everything the weekly RevOps review shows, for its page, its CSV exports and its API."""
    org = query.org
    today = today or engine.local_today(org)

    def facts():
        indicators = leading_indicators(
            org,
            start=query.start,
            end=query.end,
            filters=query.filters,
            today=today,
            fresh=query.fresh,
            version=query.version,
        )
        charts = [_volume_chart(indicators), _trend_chart(query)]
        return indicators, _indicator_table(query, indicators), charts, _leak_table(query)

    parts = [today, primary_plans_stamp(org)]
    indicators, indicator_table, charts, leaks = section(query, "weekly", parts, facts)
    board = Dashboard(query, charts=charts)
    board.extra["indicators"] = indicators
    board.tables.append(indicator_table)
    kpi_counts, off_track = _kpi_tables(org, today)
    board.tables += [kpi_counts, off_track]
    board.tables.append(leaks)
    board.tables.append(_flag_table(org, min(today, query.end), fresh=query.fresh))
    board.tables.append(_action_table(query, today))
    return board


def _links(query: DashboardQuery, key: str, metric_key: str, window: tuple) -> str:
    """The records behind an indicator over `window` (the query's own or the previous one)."""
    org = query.org
    if key == "new_leads":
        return drilldown_url(org, "leads", query, window=window, created=True)
    if key in STAGE_OF:
        return drilldown_url(org, "leads", query, window=window, entered_stage=STAGE_OF[key])
    if key == "pipeline_created":
        return drilldown_url(org, "opportunities", query, window=window, created=True)
    # Assignment figures: the offers they count (speed-to-lead reads first offers that were touched).
    return drilldown_url(org, "offers", query, window=window, show=OFFERS_SHOWN.get(key))


def _indicator_table(query: DashboardQuery, indicators: list[dict]) -> Table:
    table = Table(
        "indicators",
        "Leading indicators",
        [
            ("indicator", "Indicator"),
            ("value", "This period"),
            ("previous", "Previous period"),
            ("change", "Change"),
            ("target", "Plan target"),
            ("unit", "Unit"),
        ],
        note="Previous period: the same number of days just before. Targets: the primary plan of the "
        "quarter, prorated by days; none with filters (the plan is organisation-wide).",
    )
    current, previous = (query.start, query.end), query.previous
    reasons = unavailable_note(indicators)
    if reasons:
        table.note += " n/a: " + reasons
    for row in indicators:
        shown = row["shown"]
        usable = row["unavailable"] is None
        table.rows.append(
            {
                "indicator": Cell(row["label"], row["label"] if usable else f"{row['label']}: n/a"),
                "value": Cell(row["value"], shown["value"],
                              _links(query, row["key"], row["metric"], current) if usable else ""),
                "previous": Cell(row["previous"], shown["previous"],
                                 _links(query, row["key"], row["metric"], previous) if usable else ""),
                "change": Cell(row["change"], shown["change"], css=row["status"] or ""),
                "target": Cell(row["target"], shown["target"], css=row["target_status"] or ""),
                "unit": Cell(row["unit"]),
            }
        )  # fmt: skip
    return table


def _volume_chart(indicators: list[dict]) -> Chart:
    rows = [row for row in indicators if row["key"] in COUNTS]
    labels = [row["label"] for row in rows]
    series = {
        "This period": [row["value"] for row in rows],
        "Previous period": [row["previous"] for row in rows],
    }
    if any(row["target"] is not None for row in rows):
        series["Plan target"] = [row["target"] for row in rows]
    table = Table(
        "volumes",
        "Funnel volumes",
        [
            ("indicator", "Indicator"),
            ("value", "This period"),
            ("previous", "Previous period"),
            ("target", "Plan target"),
        ],
    )
    for row in rows:
        table.rows.append({name: Cell(row.get(name)) for name in ("value", "previous", "target")})
        table.rows[-1]["indicator"] = Cell(row["label"])
    figure = (
        None
        if all(v is None for v in series["This period"])
        else bar_chart(title="", x=labels, series=series, y_title="leads")
    )
    return Chart("volumes", "Funnel volumes: this period, the previous one and the plan", figure, table)


def _trend_chart(query: DashboardQuery) -> Chart:
    """New leads, MQLs, SALs and SQLs by day (by week beyond two months), the previous period alongside
    when comparing."""
    grain = "day" if query.days <= 62 else "week"
    window = query.window(grain)
    columns = [("period", "Period from")]
    series: dict[str, list] = {}
    values: dict[str, list] = {}
    x: list = []
    for key, label, metric_key, _ in INDICATORS:
        if key not in COUNTS:
            continue
        metric = BY_KEY[metric_key]
        if engine.filter_errors(metric, query.filters):
            continue
        result = evaluate(query, metric_key, window, compare=query.compare, total=False)
        x = [row["period"] for row in result["rows"]]
        values[key] = [row["value"] for row in result["rows"]]
        series[label] = values[key]
        columns.append((key, label))
        if query.compare:
            values[f"{key}_previous"] = [row.get("previous") for row in result["rows"]]
            series[f"{label} (previous)"] = values[f"{key}_previous"]
            columns.append((f"{key}_previous", f"{label} (previous period)"))
    table = Table("trend", f"Funnel volumes by {grain}", columns)
    for index, period in enumerate(x):
        row = {"period": Cell(period.isoformat())}
        row.update({key: Cell(column[index]) for key, column in values.items()})
        table.rows.append(row)
    figure = line_chart(title="", x=x, series=series, y_title="leads") if x else None
    return Chart("trend", f"Funnel volumes by {grain}", figure, table)


def _kpi_tables(org, today: datetime.date) -> tuple[Table, Table]:
    from apps.strategy.models import KpiStatus
    from apps.strategy.services.kpi.tree import kpi_tree

    tree = kpi_tree(org=org, today=today)
    counts = tree.counts()
    summary = Table(
        "kpi_status",
        "KPI tree status",
        [("status", "Status"), ("label", "Label"), ("nodes", "Nodes")],
        empty="No KPI tree yet: build one under Strategy, KPI tree, with a target and owner per node.",
        note="The tree's current periods, whatever the dates and filters above.",
    )
    if tree.nodes:
        for status, label in KpiStatus.choices:
            summary.rows.append(
                {"status": Cell(status), "label": Cell(label, css=f"kpi-status-{status}"),
                 "nodes": Cell(counts.get(status, 0))}
            )  # fmt: skip
    off = Table(
        "kpi_off_track",
        "Off-track KPIs",
        [("node", "KPI"), ("owner", "Owner"), ("actual", "Actual"), ("target", "Target"), ("reason", "Why")],
        empty="No KPI is off track.",
    )
    for state in tree.nodes:
        if state.status != KpiStatus.OFF_TRACK:
            continue
        url = reverse("strategy_kpi_node", args=[org.slug, state.node.pk])
        off.rows.append(
            {
                "node": Cell(state.path, url=url),
                "owner": Cell(state.owner_name or None, state.owner_name or "No owner"),
                "actual": Cell(state.actual, format_value(state.actual, state.unit)),
                "target": Cell(state.target, format_value(state.target, state.unit)),
                "reason": Cell(state.reason),
            }
        )
    return summary, off


def _leak_table(query: DashboardQuery) -> Table:
    table = Table(
        "leaks",
        "Top leaks",
        [("leak", "Leak"), ("revenue_at_stake", "Revenue at stake")],
        empty="No stage converts notably worse than the plan or its trailing average in this period.",
        note="Across the whole organisation, by segment, source and team; the filters above do not apply.",
    )
    try:
        from apps.measurement.leaks import top_leaks
    except ImportError:  # pragma: no cover - the leak finder ships with the measurement app
        return table
    for leak in top_leaks(query.org, start=query.start, end=query.end, limit=3):
        at_stake = round(leak.revenue_at_stake, 2)
        table.rows.append(
            {
                "leak": Cell(leak.sentence, url=leak.url),
                "revenue_at_stake": Cell(at_stake, format_value(at_stake, "currency")),
            }
        )
    return table


def _flag_table(org, day: datetime.date, *, fresh: bool = False) -> Table:
    table = Table(
        "red_flags",
        "Red flags",
        [("flag", "Red flag"), ("detail", "Detail"), ("key", "Check")],
        empty="No red flag is raised.",
    )
    for flag in red_flags_cached(org, today=day, fresh=fresh):
        table.rows.append(
            {"flag": Cell(flag.title, url=flag.url), "detail": Cell(flag.detail), "key": Cell(flag.key)}
        )
    return table


def _action_table(query: DashboardQuery, today: datetime.date) -> Table:
    """Open action items due by the end of the window; an owner or team filter keeps their items."""
    from apps.accounts.models import TeamMember
    from apps.governance.models import ActionItem, ActionStatus

    org = query.org
    items = ActionItem.objects.for_org(org).filter(status=ActionStatus.OPEN, due__lte=query.end)
    if "owner" in query.filters:
        items = items.filter(owner_id=query.filters["owner"])
    if "team" in query.filters:
        members = TeamMember.objects.for_org(org).filter(team_id=query.filters["team"])
        items = items.filter(owner_id__in=members.values("membership_id"))
    table = Table(
        "action_items",
        "Action items due",
        [("item", "Action item"), ("owner", "Owner"), ("due", "Due"), ("overdue", "Overdue")],
        empty="No open action item is due by the end of this period. Reviews record them under Governance.",
    )
    for item in items.select_related("owner__user", "review").order_by("due", "pk")[:100]:
        overdue = item.due < today
        table.rows.append(
            {
                "item": Cell(item.title, url=_review_url(org, item.review_id)),
                "owner": Cell(item.owner.user.display_name if item.owner else None,
                              item.owner.user.display_name if item.owner else "No owner"),
                "due": Cell(item.due.isoformat()),
                "overdue": Cell(overdue, "Overdue" if overdue else "", css="worse" if overdue else ""),
            }
        )  # fmt: skip
    return table


def _review_url(org, review_id) -> str:
    try:
        return reverse("governance_review", args=[org.slug, review_id])
    except NoReverseMatch:  # pragma: no cover - reviews have their page in the governance app
        return ""
