"""The pipeline dashboard and the leaks and red flags page, with their CSV exports.

Each page reads its query (range preset or dates, compare, filters) from the
address, like the review dashboards; its CSV export takes the same parameters
plus `table=<key>` and gives the same numbers, because the page, the export and
the API all call apps.measurement.pipeline.build_dashboard (or
apps.measurement.leaks.findings_dashboard).
"""

from django.http import HttpResponseBadRequest
from django.shortcuts import render
from django.urls import path, reverse

from apps.accounts.access import org_view
from apps.measurement import leaks, pipeline
from apps.measurement.dashboards import base
from apps.measurement.models import RollupState


def _context(request, board, errors, name: str) -> dict:
    query = board.query if board else None
    values = request.GET.dict()
    if query is not None:
        values.setdefault("preset", query.preset)
        values.update({"from": query.start.isoformat(), "to": query.end.isoformat()})
    # The pipeline's own parameters ride along in every link and export.
    extra = {key: values[key] for key in ("type", "bucket") if values.get(key)}
    return {
        "name": name,
        "board": board,
        "tables": {table.key: table for table in board.tables} if board else {},
        "charts": {chart.key: chart for chart in board.charts} if board else {},
        "query": query,
        "errors": errors or {},
        "values": values,
        "presets": base.PRESETS,
        "querystring": query.querystring(**extra) if query else "",
        "export_url": reverse(f"measurement_{name}_export", args=[request.org.slug]),
        "state": RollupState.objects.for_org(request.org).first(),
    }


def _export(request, board, errors, name: str):
    if board is None:
        return HttpResponseBadRequest("; ".join(f"{k}: {v}" for k, v in errors.items()))
    key = request.GET.get("table", "")
    response = base.export_response(board, key, name)
    if response is None:
        keys = ", ".join([*(t.key for t in board.tables), *(c.key for c in board.charts)])
        return HttpResponseBadRequest(f"table: {key!r} is not one of {keys}.")
    return response


@org_view()
def pipeline_page(request):
    board, errors = pipeline.build_dashboard(request.org, request.GET)
    context = _context(request, board, errors, "pipeline")
    context.update(
        {
            "options": base.filter_options(request.org, context["query"]),
            "types": pipeline.TYPE_CHOICES,
            "api_url": reverse("api-dashboard-pipeline"),
        }
    )
    return render(request, "measurement/pipeline/pipeline.html", context, status=400 if errors else 200)


@org_view("data.export")
def pipeline_export(request):
    board, errors = pipeline.build_dashboard(request.org, request.GET)
    return _export(request, board, errors, "pipeline")


@org_view()
def leaks_page(request):
    board, errors = leaks.findings_dashboard(request.org, request.GET)
    context = _context(request, board, errors, "leaks")
    context["api_url"] = reverse("api-leaks")
    return render(request, "measurement/pipeline/leaks.html", context, status=400 if errors else 200)


@org_view("data.export")
def leaks_export(request):
    board, errors = leaks.findings_dashboard(request.org, request.GET)
    return _export(request, board, errors, "leaks")


urlpatterns = [
    path("pipeline/", pipeline_page, name="measurement_pipeline"),
    path("pipeline/export.csv", pipeline_export, name="measurement_pipeline_export"),
    path("leaks/", leaks_page, name="measurement_leaks"),
    path("leaks/export.csv", leaks_export, name="measurement_leaks_export"),
]
