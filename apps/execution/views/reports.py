"""Report pages: speed-to-lead, SLA compliance, rejections and routing fairness.

Every page reads its period and filters from the address, builds its tables
through `apps.execution.selectors.reports`, and answers `?format=csv&table=<key>`
with exactly the rows of that table (people allowed to export only; the export
is recorded in the security log like every other export).
"""

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.http import Http404, HttpResponseBadRequest, HttpResponseNotAllowed
from django.shortcuts import render
from django.urls import path
from django.utils import timezone

from apps.accounts.access import org_view, require_permission
from apps.audit.services import export_recorded
from apps.core.csv import csv_response
from apps.execution.selectors import reports as selectors

EXPORT = "data.export"
PRESETS = {"7": "Last 7 days", "30": "Last 30 days", "90": "Last 90 days"}
DEFAULT_PRESET = "30"
# A year of offers is already a few hundred thousand rows for a busy team; longer
# periods belong in a warehouse, not in a request.
MAX_DAYS = 366


class ReportFilterForm(forms.Form):
    range = forms.ChoiceField(
        label="Period",
        required=False,
        choices=[*PRESETS.items(), ("custom", "Custom dates")],
        help_text="Dates, when given, win over the preset.",
    )
    start = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    team = forms.TypedChoiceField(label="Team", required=False, coerce=int, empty_value=None)
    rep = forms.TypedChoiceField(label="Rep", required=False, coerce=int, empty_value=None)
    source = forms.CharField(label="Source", required=False, max_length=255)

    def __init__(self, data, *, names: selectors.Names, today: date, with_source: bool = True):
        # Show the period actually in force: the default preset, or "custom" when dates were given.
        data = data.copy()
        if data.get("start") or data.get("end"):
            data["range"] = "custom"
        elif not data.get("range"):
            data["range"] = DEFAULT_PRESET
        super().__init__(data)
        self.today = today
        self.fields["team"].choices = [("", "Any team"), *sorted(names.teams.items(), key=_by_name)]
        self.fields["rep"].choices = [("", "Anyone"), *sorted(names.people.items(), key=_by_name)]
        if not with_source:
            del self.fields["source"]

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if data.get("range") == "custom" or start or end:
            if not (start and end):
                raise forms.ValidationError("Give both dates of a custom period.")
            if end < start:
                raise forms.ValidationError("The period ends before it starts.")
            if (end - start).days + 1 > MAX_DAYS:
                raise forms.ValidationError(f"Pick at most {MAX_DAYS} days.")
        else:
            start, end = preset_period(data.get("range") or DEFAULT_PRESET, self.today)
        data["period"] = (start, end)
        return data

    def set_sources(self, sources: list[str]) -> None:
        """Offer the sources seen in the period (and the one asked for, even if absent)."""
        if "source" not in self.fields:
            return
        current = self.cleaned_data.get("source") if hasattr(self, "cleaned_data") else ""
        options = sorted({*sources, *([current] if current else [])}, key=str.casefold)
        self.fields["source"].widget = forms.Select(choices=[("", "Any source"), *((s, s) for s in options)])


def _by_name(item):
    return item[1].casefold()


def preset_period(preset: str, today: date) -> tuple[date, date]:
    """The last N days, today included."""
    return today - timedelta(days=int(preset) - 1), today


def _filters(form: ReportFilterForm, tz: ZoneInfo, today: date) -> selectors.Filters:
    if form.is_valid():
        start, end = form.cleaned_data["period"]
        return selectors.Filters(
            start=start,
            end=end,
            tz=tz,
            team=form.cleaned_data["team"],
            rep=form.cleaned_data["rep"],
            source=form.cleaned_data.get("source") or None,
        )
    start, end = preset_period(DEFAULT_PRESET, today)
    return selectors.Filters(start=start, end=end, tz=tz)


def _report(request, kind: str, template: str, *, with_source: bool = True):
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    org = request.org
    exporting = request.GET.get("format") == "csv"
    if exporting:
        require_permission(request, EXPORT)
    tz = ZoneInfo(org.time_zone)
    today = timezone.now().astimezone(tz).date()
    names = selectors.names_for(org=org)
    form = ReportFilterForm(request.GET, names=names, today=today, with_source=with_source)
    if exporting and not form.is_valid():
        return HttpResponseBadRequest("These filters are not valid; fix them on the report page first.")
    filters = _filters(form, tz, today)
    report = selectors.REPORTS[kind](org=org, filters=filters, names=names)
    if exporting:
        return _export(request, kind, report, filters)
    form.set_sources(report.sources)
    query = request.GET.copy()
    for key in ("format", "table"):
        query.pop(key, None)
    return render(
        request,
        template,
        {
            "form": form,
            "filters": filters,
            "report": report,
            "tables": report.tables,
            "charts": report.charts,
            "can_export": request.membership.can(EXPORT),
            "export_query": query.urlencode(),
            "presets": PRESETS,
        },
    )


def _export(request, kind: str, report: selectors.Report, filters: selectors.Filters):
    table = report.tables.get(request.GET.get("table", ""))
    if table is None:
        raise Http404("No such table on this report.")
    export_recorded(
        request,
        what=f"{kind} report: {table.title}",
        rows=len(table.rows),
        filters={
            "start": filters.start.isoformat(),
            "end": filters.end.isoformat(),
            "team": filters.team,
            "rep": filters.rep,
            "source": filters.source,
        },
    )
    return csv_response(
        f"{kind}-{table.key}-{request.org.slug}-{filters.start}-{filters.end}.csv",
        [column.label for column in table.columns],
        table.rows,
    )


@org_view()
def execution_reports(request):
    return _report(request, "speed", "execution/reports/speed.html")


@org_view()
def execution_sla_report(request):
    return _report(request, "sla", "execution/reports/sla.html")


@org_view()
def execution_rejections_report(request):
    return _report(request, "rejections", "execution/reports/rejections.html")


@org_view()
def execution_fairness_report(request):
    return _report(request, "fairness", "execution/reports/fairness.html", with_source=False)


urlpatterns = [
    path("reports/speed/", execution_reports, name="execution_reports"),
    path("reports/sla/", execution_sla_report, name="execution_sla_report"),
    path("reports/rejections/", execution_rejections_report, name="execution_rejections_report"),
    path("reports/fairness/", execution_fairness_report, name="execution_fairness_report"),
]
