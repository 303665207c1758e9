"""The metric catalogue (the organisation's definitions page) and one page per metric.

A metric page shows the series as a chart and a table, with the range, grain,
grouping and comparison in the URL (so a view can be bookmarked and shared);
its CSV export takes the same parameters and gives the same numbers, because
both call apps.measurement.metrics.engine, as the API does.
"""

import datetime
from itertools import groupby

from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import render
from django.urls import path

from apps.accounts.access import org_view
from apps.core.charts import bar_chart, line_chart
from apps.core.csv import csv_response
from apps.measurement import store
from apps.measurement.dashboards.base import filter_options
from apps.measurement.metrics import engine
from apps.measurement.metrics.catalogue import BY_KEY, METRICS
from apps.measurement.models import RollupState

UNITS = {
    "count": "",
    "currency": "",
    "percent": "%",
    "ratio": "×",
    "days": "days",
    "hours": "hours",
    "minutes": "min",
    "seconds": "s",
    "months": "months",
    "currency_per_day": "per day",
}
PRESETS = {
    "last_30": "Last 30 days",
    "last_90": "Last 90 days",
    "this_quarter": "This quarter",
    "last_quarter": "Last quarter",
    "this_year": "This year",
}


def preset_range(preset: str, today: datetime.date) -> tuple[datetime.date, datetime.date]:
    if preset == "last_30":
        return today - datetime.timedelta(days=29), today
    if preset == "this_quarter":
        return store.period_start(today, "quarter"), today
    if preset == "last_quarter":
        end = store.period_start(today, "quarter") - datetime.timedelta(days=1)
        return store.period_start(end, "quarter"), end
    if preset == "this_year":
        return today.replace(month=1, day=1), today
    return today - datetime.timedelta(days=89), today


def _query_values(request, org) -> dict:
    """The request's parameters, with a preset turned into from/to in the organisation's time zone."""
    values = request.GET.dict()
    preset = values.get("preset") or ("" if values.get("from") or values.get("to") else "last_90")
    if preset in PRESETS:
        today = engine.local_today(org)
        start, end = preset_range(preset, today)
        values.update({"from": start.isoformat(), "to": end.isoformat(), "preset": preset})
    return values


def format_value(value, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "count":
        return f"{value:,.0f}"
    if unit in ("currency", "currency_per_day"):
        return f"{value:,.0f}" + (" per day" if unit == "currency_per_day" else "")
    suffix = UNITS.get(unit, "")
    return f"{value:,.1f}{' ' if suffix and suffix not in '%×' else ''}{suffix}"


@org_view()
def metrics_index(request):
    groups = [(name, list(metrics)) for name, metrics in groupby(METRICS, key=lambda m: m.group)]
    state = RollupState.objects.for_org(request.org).first()
    return render(request, "measurement/metrics.html", {"groups": groups, "state": state})


def _evaluate(request, key: str):
    if key not in BY_KEY:
        raise Http404("No such metric.")
    values = _query_values(request, request.org)
    try:
        metric, window, group_by, compare, params, filters = engine.parse_all(
            key, values, org=request.org, today=engine.local_today(request.org)
        )
    except engine.QueryError as error:
        return values, None, error.errors
    return values, engine.evaluate(request.org, metric, window, group_by, compare, params, filters), {}


@org_view()
def metric_detail(request, key):
    values, result, errors = _evaluate(request, key)
    metric = BY_KEY[key]
    context = {
        "metric": metric,
        "values": values,
        "errors": errors,
        "result": result,
        "presets": PRESETS,
        "param_fields": [{"param": p, "value": values.get(p.name) or p.default} for p in metric.params],
        "grains": store.GRAINS,
        "options": filter_options(request.org),
        "state": RollupState.objects.for_org(request.org).first(),
    }
    if result is not None:
        context["rows"] = [
            {
                **row,
                "shown": format_value(row["value"], metric.unit),
                "previous_shown": _previous(row, metric),
            }
            for row in result.rows
        ]
        context["total"] = format_value(result.total, metric.unit)
        context["total_previous"] = format_value(result.total_previous, metric.unit) if result.compare else ""
        context["chart"] = _chart(result)
        context["export_query"] = request.GET.urlencode()
    return render(request, "measurement/metric.html", context, status=400 if errors else 200)


def _previous(row, metric) -> str:
    return format_value(row.get("previous"), metric.unit) if "previous" in row else ""


def _chart(result: engine.Result) -> str | None:
    if not result.rows:
        return None
    unit = UNITS.get(result.metric.unit, "")
    periods = sorted({row["period"] for row in result.rows})
    if result.group_by:
        series: dict[str, list] = {}
        by_key = {(row["period"], row["group_label"]): row["value"] for row in result.rows}
        for label in sorted({str(row["group_label"]) for row in result.rows}):
            series[label] = [by_key.get((p, label)) for p in periods]
        # Stacked bars add up to the total; segments overlap (a lead can be in several), so side by side.
        additive = result.metric.unit in ("count", "currency") and result.group_by != "segment"
        return bar_chart(title="", x=periods, series=series, y_title=unit, stacked=additive)
    series = {result.metric.name: [row["value"] for row in result.rows]}
    if result.compare:
        series["Previous period"] = [row.get("previous") for row in result.rows]
    return line_chart(title="", x=periods, series=series, y_title=unit)


@org_view("data.export")
def metric_export(request, key):
    _, result, errors = _evaluate(request, key)
    if result is None:
        return HttpResponseBadRequest("; ".join(f"{k}: {v}" for k, v in errors.items()))
    header = ["metric", "period", *(["group"] if result.group_by else []), "value"]
    header += ["previous"] if result.compare else []
    rows = (
        [
            key,
            row["period"].isoformat(),
            *([row["group_label"]] if result.group_by else []),
            "" if row["value"] is None else row["value"],
            *(["" if row.get("previous") is None else row["previous"]] if result.compare else []),
        ]
        for row in result.rows
    )
    return csv_response(f"{key}-{result.start}-{result.end}.csv", header, rows)


urlpatterns = [
    path("metrics/<slug:key>/", metric_detail, name="measurement_metric"),
    path("metrics/<slug:key>/export.csv", metric_export, name="measurement_metric_export"),
]
