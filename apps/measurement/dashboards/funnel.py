"""The funnel dashboard: conversion by stage (cohort and period), time in stage, velocity.

Conversion and time in stage are metric engine totals; the distribution of time
in stage is read from the same merged duration sketches the median and p90
come from (apps.measurement.sketch), counted into a few readable ranges.
"""

import datetime

from apps.core.charts import bar_chart
from apps.measurement import sketch, store
from apps.measurement.metrics import engine
from apps.measurement.metrics.catalogue import BY_KEY, Query

from .base import (
    Cell,
    Chart,
    Dashboard,
    DashboardQuery,
    Table,
    metric_cells,
    metric_url,
    section,
)
from .quarterly import metric_table, stage_conversion, stage_pairs

VELOCITY = (
    "pipeline_velocity",
    "opportunities_created",
    "win_rate",
    "average_deal_size",
    "sales_cycle_length",
)

HOUR, DAY = 3600, 86400
# Upper bounds (seconds) of the ranges the distribution counts exits in; the last range is open.
RANGES = (
    (HOUR, "under 1 hour"),
    (4 * HOUR, "1 to 4 hours"),
    (DAY, "4 to 24 hours"),
    (3 * DAY, "1 to 3 days"),
    (7 * DAY, "3 to 7 days"),
    (30 * DAY, "1 to 4 weeks"),
    (None, "over 4 weeks"),
)


def funnel_review(query: DashboardQuery, *, today: datetime.date | None = None) -> Dashboard:
    def facts():
        blocked = engine.filter_errors(BY_KEY["time_in_stage_median"], query.filters)
        sketches = {} if blocked else exit_sketches(query)
        charts = [
            stage_conversion(query, period=True),
            time_in_stage(query, sketches),
            time_distribution(query, sketches),
        ]
        return charts, [metric_table(query, "velocity", "Velocity", VELOCITY)]

    charts, tables = section(query, "funnel", [stage_pairs(query.org)], facts)
    return Dashboard(query, tables=tables, charts=charts)


def _stages(org) -> list[tuple[str, str]]:
    """The stages leads leave towards the next funnel stage (all but the last)."""
    return [(from_key, from_name) for from_key, from_name, _, _ in stage_pairs(org)]


def _exit_sketches(query: DashboardQuery, stages: list[str], start: datetime.date, end: datetime.date):
    """{stage: merged sketch of its exits over start..end}, every stage in one read: what the
    time_in_stage metrics read (one read gives the median, the p90 and the distribution)."""
    window = store.Window(start, end, None)
    lookups = engine.filter_lookups(query.org, query.filters)
    where = Query(query.org, window, None, {}, lookups).where(stage__in=stages)
    merged = store.sketches(query.org, "funnel", "exit_sketch", window, "stage", **where)
    return {stage: counts for (_, stage), counts in merged.items()}


def hours(counts: dict, quantile: float) -> float | None:
    """A quantile of a merged sketch in hours, rounded as the metric engine returns it."""
    value = sketch.quantile(counts, quantile)
    return None if value is None else round(value / 3600, 6)


def time_in_stage(query: DashboardQuery, sketches: dict | None = None) -> Chart:
    """Median and p90 hours in each stage, over the exits from it in the window: the time_in_stage_median
    and time_in_stage_p90 metrics, computed from one sketch read per stage and window."""
    columns = [("stage", "Stage"), ("median", "Median (hours)")]
    columns += [("median_previous", "Previous period")] if query.compare else []
    columns += [("p90", "p90 (hours)")]
    columns += [("p90_previous", "Previous period")] if query.compare else []
    table = Table(
        "time_in_stage",
        "Time in stage",
        columns,
        empty="The organisation has no funnel stages. Define them under Records, Definitions.",
        note="From entering a stage to the next stage event, over the exits in the period, within 1 %.",
    )
    reasons = engine.filter_errors(BY_KEY["time_in_stage_median"], query.filters)
    sketches = exit_sketches(query) if sketches is None and not reasons else (sketches or {})
    labels, medians, p90s = [], [], []
    for key, name in _stages(query.org):
        row = {"stage": Cell(key, name)}
        current, previous = sketches.get(key, ({}, {}))
        for column, metric_key, quantile in (
            ("median", "time_in_stage_median", 0.5),
            ("p90", "time_in_stage_p90", 0.9),
        ):
            value, before = hours(current, quantile), hours(previous, quantile)
            change = None if value is None or before is None else round(value - before, 6)
            found = {"value": value, "previous": before, "change": change, "unit": "hours",
                     "direction": "lower", "unavailable": " ".join(reasons.values()) or None}  # fmt: skip
            # No records list shows exits from a stage: the metric page, same days, stage and filters.
            url = metric_url(query.org, metric_key, query, stage=key)
            cells = metric_cells(query, found, url)
            row[column], row[f"{column}_previous"] = cells["value"], cells["previous"]
            (medians if column == "median" else p90s).append(value)
        labels.append(name)
        table.rows.append(row)
    if reasons:
        table.note += " n/a: " + " ".join(reasons.values())
    drawn = any(v is not None for v in medians + p90s)
    series = {"Median": medians, "p90": p90s}
    figure = bar_chart(title="", x=labels, series=series, y_title="hours") if drawn else None
    return Chart("time_in_stage", table.title, figure, table)


def exit_sketches(query: DashboardQuery) -> dict[str, tuple[dict, dict]]:
    """{stage: (sketch of the window, sketch of the previous window when comparing)}."""
    stages = [key for key, _ in _stages(query.org)]
    current = _exit_sketches(query, stages, query.start, query.end)
    previous = _exit_sketches(query, stages, *query.previous) if query.compare else {}
    return {key: (current.get(key, {}), previous.get(key, {})) for key in stages}


def distribution(counts: dict) -> list[int]:
    """A merged sketch's exits counted into RANGES."""
    found = [0] * len(RANGES)
    for index, count in counts.items():
        seconds = sketch.value(int(index))
        position = next(i for i, (bound, _) in enumerate(RANGES) if bound is None or seconds < bound)
        found[position] += count
    return found


def time_distribution(query: DashboardQuery, sketches: dict | None = None) -> Chart:
    table = Table(
        "time_distribution",
        "Time in stage: distribution of exits",
        [("stage", "Stage"), ("range", "Time in stage"), ("exits", "Exits")],
        empty="No lead left a funnel stage in this period.",
        note="Each exit is counted in the range of its sketch bucket (within 1 % of the exact time).",
    )
    reasons = engine.filter_errors(BY_KEY["time_in_stage_median"], query.filters)
    if reasons:
        table.note += " n/a: " + " ".join(reasons.values())
        return Chart("time_distribution", table.title, None, table)
    sketches = exit_sketches(query) if sketches is None else sketches
    series: dict[str, list] = {}
    for key, name in _stages(query.org):
        counts = distribution(sketches.get(key, ({}, {}))[0])
        if not any(counts):
            continue
        series[name] = counts
        for (_, label), count in zip(RANGES, counts, strict=True):
            table.rows.append({"stage": Cell(key, name), "range": Cell(label), "exits": Cell(count)})
    labels = [label for _, label in RANGES]
    figure = bar_chart(title="", x=labels, series=series, y_title="exits") if series else None
    return Chart("time_distribution", table.title, figure, table)
