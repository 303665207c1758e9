"""The growth diagnostic page, its "recompute now" action and its CSV export.

The page shows today's snapshot (taken on the spot when the nightly run has
not reached the organisation yet); every number on it comes from the stored
report, like the CSV and the API. `?print=1` gives the printable report.
"""

from django.contrib import messages
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import path, reverse

from apps.accounts.access import org_view
from apps.core.csv import csv_response
from apps.measurement.diagnostic import export, snapshot
from apps.measurement.diagnostic.components import COMPONENTS, PILLARS
from apps.measurement.diagnostic.scoring import QUADRANTS, THRESHOLD


@org_view()
def diagnostic_page(request):
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    taken = snapshot.current(request.org)
    trend = snapshot.trend_rows(request.org)
    report = taken.report
    context = {
        "snapshot": taken,
        "report": report,
        "found_symptoms": [s for s in report["symptoms"] if s["found"]],
        "quiet_symptoms": [s for s in report["symptoms"] if not s["found"]],
        "quadrants": QUADRANTS,
        "threshold": THRESHOLD,
        "trend": trend,
        "trend_chart": snapshot.trend_chart(trend),
        "components": COMPONENTS,
        "pillar_labels": PILLARS,
        "printing": request.GET.get("print") == "1",
        "can_recompute": request.membership.can("reviews.run"),
        "api_url": reverse("api-diagnostic"),
    }
    return render(request, "measurement/diagnostic/page.html", context)


@org_view("reviews.run")
def diagnostic_recompute(request):
    """Hand today's recompute to a worker: it takes a second or more on a real organisation (README)."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    snapshot.recompute_later(request.org)
    messages.success(request, "The diagnostic is being recomputed; reload the page in a few seconds.")
    return redirect("measurement_diagnostic", org_slug=request.org.slug)


@org_view("data.export")
def diagnostic_export(request):
    report = snapshot.current(request.org).report
    return csv_response(f"diagnostic-{report['taken_on']}.csv", export.HEADER, export.component_rows(report))


urlpatterns = [
    path("diagnostic/", diagnostic_page, name="measurement_diagnostic"),
    path("diagnostic/recompute/", diagnostic_recompute, name="measurement_diagnostic_recompute"),
    path("diagnostic/export.csv", diagnostic_export, name="measurement_diagnostic_export"),
]
