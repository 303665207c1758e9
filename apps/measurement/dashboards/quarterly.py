"""The quarterly growth review: lead flow by source, conversion by stage, campaign ROI by quarter,
retention and upsell, unit economics and goal attainment.

Every number is a metric engine total or series (the metric pages, API and CSV
give the same), except goal attainment, which is apps.strategy.services.goals'
progress of the goals of the fiscal quarter holding the window's last day.
"""

import datetime
import itertools

from django.urls import reverse

from apps.core.charts import bar_chart
from apps.measurement.metrics import engine
from apps.measurement.metrics.catalogue import BY_KEY
from apps.strategy.assumptions import funnel_stages
from apps.strategy.fiscal import fiscal_quarter_of

from .base import (
    Cell,
    Chart,
    Dashboard,
    DashboardQuery,
    Table,
    drilldown_url,
    evaluate,
    format_value,
    metric_cells,
    metric_total,
    metric_url,
    section,
    unavailable_note,
)

RETENTION = ("net_revenue_retention", "gross_revenue_retention", "expansion_revenue", "churned_revenue")
ECONOMICS = ("cac_blended", "cac_payback_months", "ltv", "ltv_to_cac")
VALUE_COLUMNS = [("metric", "Metric"), ("value", "This period"), ("previous", "Previous period"),
                 ("change", "Change"), ("unit", "Unit")]  # fmt: skip


def quarterly_review(query: DashboardQuery, *, today: datetime.date | None = None) -> Dashboard:
    today = today or engine.local_today(query.org)

    def facts():
        charts = [lead_flow(query), stage_conversion(query), retention(query)]
        economics = metric_table(query, "unit_economics", "CAC payback and LTV:CAC", ECONOMICS)
        return charts, [campaign_roi(query), economics]

    charts, tables = section(query, "quarterly", [stage_pairs(query.org)], facts)
    # Goals are edited by people: read on every request.
    return Dashboard(query, tables=[*tables, goal_attainment(query, today)], charts=charts)


def _month_window(query: DashboardQuery, month: datetime.date) -> tuple[datetime.date, datetime.date]:
    """A month of the series clipped to the window (its label is already clipped at the start)."""
    following = datetime.date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return month, min(query.end, following - datetime.timedelta(days=1))


def lead_flow(query: DashboardQuery) -> Chart:
    """New leads by channel (source) and month."""
    metric = BY_KEY["leads"]
    table = Table(
        "lead_flow",
        "Lead flow by source",
        [("month", "Month from"), ("channel", "Channel"), ("leads", "New leads")],
        empty="No lead was created in this period. Import leads or connect a form under Data.",
    )
    reasons = engine.filter_errors(metric, query.filters, "channel")
    if reasons:
        table.note = " ".join(reasons.values())
        return Chart("lead_flow", table.title, None, table)
    result = evaluate(query, "leads", query.window("month"), "channel", total=False)
    rows = [row for row in result["rows"] if row["value"]]
    months = sorted({row["period"] for row in rows})
    series: dict[str, list] = {}
    for row in rows:
        label = str(row["group_label"])
        window = _month_window(query, row["period"])
        url = ""
        if row["group"]:
            filters = {**query.filters, "channel": row["group"]}
            url = drilldown_url(
                query.org, "leads", _with_filters(query, filters), window=window, created=True
            )
        table.rows.append(
            {
                "month": Cell(row["period"].isoformat(), row["period"].strftime("%b %Y")),
                "channel": Cell(label),
                "leads": Cell(row["value"], format_value(row["value"], "count"), url=url),
            }
        )
        series.setdefault(label, [None] * len(months))[months.index(row["period"])] = row["value"]
    labels = [month.strftime("%b %Y") for month in months]  # categories, not instants
    figure = bar_chart(title="", x=labels, series=series, y_title="leads", stacked=True) if rows else None
    return Chart("lead_flow", table.title, figure, table)


def _with_filters(query: DashboardQuery, filters: dict) -> DashboardQuery:
    return DashboardQuery(query.org, query.start, query.end, query.preset, query.compare, filters)


def stage_pairs(org) -> list[tuple[str, str, str, str]]:
    """(from key, from name, to key, to name) for each step of the organisation's funnel."""
    stages = funnel_stages(org)
    return [(a.key, a.name, b.key, b.name) for a, b in itertools.pairwise(stages)]


def stage_conversion(query: DashboardQuery, *, period: bool = False) -> Chart:
    """Cohort conversion of each funnel step (and period conversion with `period`)."""
    kinds = [("cohort", "stage_conversion_cohort")] + (
        [("period", "stage_conversion_period")] if period else []
    )
    columns = [("from_stage", "From"), ("to_stage", "To")]
    for kind, _ in kinds:
        columns += [(kind, f"{kind.capitalize()} conversion")]
        columns += [(f"{kind}_previous", "Previous period")] if query.compare else []
    table = Table(
        "conversion",
        "Conversion by stage",
        columns,
        empty="The organisation has no funnel stages. Define them under Records, Definitions.",
        note="Cohort: of the leads that first entered the from-stage in the period, the share that has "
        "reached the to-stage since. Period: to-stage entries over from-stage entries, same period.",
    )
    series: dict[str, list] = {}
    labels = []
    totals = []
    for from_key, from_name, to_key, to_name in stage_pairs(query.org):
        labels.append(f"{from_name} → {to_name}")
        row = {"from_stage": Cell(from_key, from_name), "to_stage": Cell(to_key, to_name)}
        for kind, metric_key in kinds:
            found = metric_total(query, metric_key, from_stage=from_key, to_stage=to_key)
            totals.append(found)
            cells = metric_cells(
                query, found, drilldown_url(query.org, "leads", query, entered_stage=from_key)
            )
            row[kind], row[f"{kind}_previous"] = cells["value"], cells["previous"]
            name = f"{kind.capitalize()} conversion"
            series.setdefault(name, []).append(found["value"])
            if query.compare:
                series.setdefault(f"{name} (previous)", []).append(found["previous"])
        table.rows.append(row)
    note = unavailable_note(totals)
    if note:
        table.note += " n/a: " + note
    drawn = any(v is not None for values in series.values() for v in values)
    figure = bar_chart(title="", x=labels, series=series, y_title="%") if drawn else None
    return Chart("conversion", table.title, figure, table)


def campaign_roi(query: DashboardQuery) -> Table:
    """Campaign ROI by quarter and campaign (linear attribution)."""
    metric = BY_KEY["campaign_roi"]
    table = Table(
        "campaign_roi",
        "Campaign ROI by quarter",
        [("quarter", "Quarter from"), ("campaign", "Campaign"), ("roi", "ROI")],
        empty="No campaign return yet: record spend with a campaign reference in the spend ledger and run "
        "attribution under Measurement, Attribution.",
        note="Linear attribution: revenue credited to campaigns less campaign spend, over that spend.",
    )
    reasons = engine.filter_errors(metric, query.filters, "campaign")
    if reasons:
        table.note += " n/a: " + " ".join(reasons.values())
        return table
    result = evaluate(query, "campaign_roi", query.window("quarter"), "campaign", total=False)
    for row in result["rows"]:
        if row["value"] is None or not row["group"]:
            continue
        url = metric_url(query.org, "campaign_roi", query, campaign=row["group"])
        table.rows.append(
            {
                "quarter": Cell(row["period"].isoformat()),
                "campaign": Cell(row["group_label"]),
                "roi": Cell(row["value"], format_value(row["value"], "percent"), url=url),
            }
        )
    return table


def retention(query: DashboardQuery) -> Chart:
    """NRR, GRR, expansion and churn over the window, and NRR / GRR by quarter for the chart."""
    table = metric_table(query, "retention", "Retention and upsell", RETENTION)
    series: dict[str, list] = {}
    x: list = []
    for key in ("net_revenue_retention", "gross_revenue_retention"):
        metric = BY_KEY[key]
        if engine.filter_errors(metric, query.filters):
            continue
        result = evaluate(query, key, query.window("quarter"), total=False)
        x = [row["period"] for row in result["rows"]]
        series[metric.name] = [row["value"] for row in result["rows"]]
    drawn = any(v is not None for values in series.values() for v in values)
    table.empty = (
        "No subscription was active at the start of a quarter in this period: import customers (ARR, "
        "start and churn dates) under Data, Import."
    )
    labels = [period.strftime("%b %Y") for period in x]  # the first month of each quarter
    figure = bar_chart(title="", x=labels, series=series, y_title="%") if drawn else None
    return Chart("retention", table.title, figure, table)


def metric_table(query: DashboardQuery, key: str, title: str, metric_keys) -> Table:
    columns = (
        VALUE_COLUMNS if query.compare else [c for c in VALUE_COLUMNS if c[0] not in ("previous", "change")]
    )
    table = Table(key, title, columns)
    totals = []
    for metric_key in metric_keys:
        found = metric_total(query, metric_key)
        totals.append(found)
        url = "" if found["unavailable"] else metric_url(query.org, metric_key, query)
        table.rows.append(
            {"metric": Cell(found["label"]), "unit": Cell(found["unit"]), **metric_cells(query, found, url)}
        )
    note = unavailable_note(totals)
    if note:
        table.note = "n/a: " + note
    return table


def goal_attainment(query: DashboardQuery, today: datetime.date) -> Table:
    """The goals of the fiscal quarter holding the window's last day, with their progress."""
    from apps.strategy.services.goals import goal_progress, goals_for_quarter

    org = query.org
    year, quarter = fiscal_quarter_of(org.fiscal_year_start_month, query.end)
    table = Table(
        "goals",
        f"Goal attainment, FY{year} Q{quarter}",
        [
            ("goal", "Goal"),
            ("scope", "Scope"),
            ("owner", "Owner"),
            ("actual", "Actual"),
            ("target", "Target"),
            ("percent", "Attained %"),
            ("status", "Status"),
        ],
        empty=f"No goal is set for FY{year} Q{quarter}: set targets and owners under Strategy, Goals.",
        note="Goals measure their whole quarter to date; the filters above do not apply to them.",
    )
    for goal in goals_for_quarter(org=org, fiscal_year=year, quarter=quarter):
        progress = goal_progress(org=org, goal=goal, today=today)
        percent = None if progress.percent is None else round(progress.percent, 1)
        table.rows.append(
            {
                "goal": Cell(
                    goal.get_metric_display(), url=reverse("strategy_goal", args=[org.slug, goal.pk])
                ),
                "scope": Cell(goal.team.name if goal.team else "Organisation"),
                "owner": Cell(goal.owner.user.display_name if goal.owner else None),
                "actual": Cell(progress.actual, format_value(progress.actual, progress.unit)),
                "target": Cell(progress.target, format_value(progress.target, progress.unit)),
                "percent": Cell(percent, "" if percent is None else f"{percent:.1f}%"),
                "status": Cell(progress.status, progress.status_label, css=f"status-{progress.status}"),
            }
        )
    return table
