"""The review dashboards' pages and CSV exports: weekly RevOps review, quarterly growth review, funnel.

Each page reads its query (range preset or dates, compare, filters) from the
address, so a view is bookmarkable; its CSV export takes the same parameters
plus `table=<key>` and gives the same numbers, because both call the dashboard
builders in apps.measurement.dashboards, as the API does.
"""

from django.http import HttpResponseBadRequest
from django.shortcuts import render
from django.urls import path, reverse

from apps.accounts.access import org_view
from apps.measurement.dashboards import base
from apps.measurement.dashboards.registry import DASHBOARDS, build
from apps.measurement.models import RollupState


def _page(request, name: str):
    org = request.org
    board, errors = build(name, org, request.GET)
    _, _, title, lead = DASHBOARDS[name]
    query = board.query if board else None
    values = request.GET.dict()
    if query is not None:
        values.setdefault("preset", query.preset)
        values.update({"from": query.start.isoformat(), "to": query.end.isoformat()})
    context = {
        "name": name,
        "title": title,
        "lead": lead,
        "board": board,
        "tables": {table.key: table for table in board.tables} if board else {},
        "charts": {chart.key: chart for chart in board.charts} if board else {},
        "query": query,
        "errors": errors or {},
        "values": values,
        "presets": base.PRESETS,
        "options": base.filter_options(org, query),
        "querystring": query.querystring() if query else "",
        "export_url": reverse(f"measurement_{name}_export", args=[org.slug]),
        "state": RollupState.objects.for_org(org).first(),
    }
    return render(request, f"measurement/dashboards/{name}.html", context, status=400 if errors else 200)


def _export(request, name: str):
    board, errors = build(name, request.org, request.GET)
    if board is None:
        return HttpResponseBadRequest("; ".join(f"{k}: {v}" for k, v in errors.items()))
    key = request.GET.get("table", "")
    response = base.export_response(board, key, name)
    if response is None:
        keys = ", ".join(t.key for t in board.tables) + ", " + ", ".join(c.key for c in board.charts)
        return HttpResponseBadRequest(f"table: {key!r} is not one of {keys}.")
    return response


@org_view()
def weekly_page(request):
    return _page(request, "weekly")


@org_view()
def quarterly_page(request):
    return _page(request, "quarterly")


@org_view()
def funnel_page(request):
    return _page(request, "funnel")


@org_view("data.export")
def weekly_export(request):
    return _export(request, "weekly")


@org_view("data.export")
def quarterly_export(request):
    return _export(request, "quarterly")


@org_view("data.export")
def funnel_export(request):
    return _export(request, "funnel")


urlpatterns = [
    path("weekly/", weekly_page, name="measurement_weekly"),
    path("weekly/export.csv", weekly_export, name="measurement_weekly_export"),
    path("quarterly/", quarterly_page, name="measurement_quarterly"),
    path("quarterly/export.csv", quarterly_export, name="measurement_quarterly_export"),
    path("funnel/", funnel_page, name="measurement_funnel"),
    path("funnel/export.csv", funnel_export, name="measurement_funnel_export"),
]
