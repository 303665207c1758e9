"""The reverse waterfall page and its CSV export: from a quarter's revenue target back to each stage's volume.

Everyone in the organisation reads it; nothing is stored. The parameters, their
defaults and the numbers come from apps.strategy.planning, which the API shares.
"""

from django.http import HttpResponseBadRequest
from django.shortcuts import render
from django.urls import path
from django.utils import timezone

from apps.accounts.access import org_view
from apps.core.charts import bar_chart
from apps.core.csv import csv_response
from apps.strategy import planning

FORM_FIELDS = {"fiscal_year", "quarter", "target", "scenario_stage", "scenario_rate", "scenario_lag"}


def _chart(result: planning.Result) -> str | None:
    if not result.ok:
        return None
    key, name = result.stages[0]
    rows = result.rows[key]
    return bar_chart(
        title=f"{name}: required vs actual",
        x=[row.month.isoformat() for row in rows],
        series={
            "Required": [row.required_rounded for row in rows],
            "Actual": [row.actual for row in rows],
        },
        y_title=name,
    )


@org_view()
def waterfall_page(request):
    result = planning.build(request.org, request.GET, timezone.localdate())
    names = dict(result.stages)
    named = {a.name for a in result.assumptions}
    tables = [(key, names[key], rows) for key, rows in result.rows.items()]
    return render(
        request,
        "strategy/waterfall.html",
        {
            "result": result,
            "tables": tables,
            "fields": [(a, result.errors.get(a.name)) for a in result.assumptions],
            "other_errors": [(k, v) for k, v in result.errors.items() if k not in FORM_FIELDS | named],
            "chart": _chart(result),
            "stage_choices": result.stages[:-1],
            "query": request.GET.urlencode(),
            "params": sorted((k, v) for k, v in request.GET.items() if v.strip()),
            "can_edit": request.membership.can("strategy.edit"),
        },
    )


@org_view()
def waterfall_export(request):
    result = planning.build(request.org, request.GET, timezone.localdate())
    if not result.ok:
        return HttpResponseBadRequest("; ".join(f"{k}: {v}" for k, v in result.errors.items()))
    name = f"waterfall-{request.org.slug}-FY{result.fiscal_year}-Q{result.quarter}.csv"
    return csv_response(name, planning.CSV_HEADER, planning.csv_rows(result))


urlpatterns = [
    path("waterfall/", waterfall_page, name="strategy_waterfall"),
    path("waterfall/export.csv", waterfall_export, name="strategy_waterfall_export"),
]
