"""Channel mix and budget: a quarter's plan against actuals per channel, its lines, CSV, and reallocation.

Everyone in the organisation reads; RevOps leads and admins edit the lines
("strategy.edit"). The quarter comes from the address (?fiscal_year=&quarter=),
the current fiscal quarter when it names none. The numbers come from
apps.strategy.services.budget, which the CSV export and the API share.
"""

from django import forms
from django.contrib import messages
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone

from apps.accounts.access import org_view
from apps.core.charts import bar_chart
from apps.core.csv import csv_response
from apps.core.errors import ServiceError
from apps.core.forms import add_service_error
from apps.core.lookups import get_for_org
from apps.measurement.metrics import engine
from apps.strategy.fiscal import fiscal_quarter_of, shift_quarter
from apps.strategy.models import ChannelBudget, Segment
from apps.strategy.services import budget as services

EDIT = "strategy.edit"


class BudgetLineForm(forms.Form):
    fiscal_year = forms.IntegerField(
        label="Fiscal year",
        min_value=services.MIN_YEAR,
        max_value=services.MAX_YEAR,
        help_text="The calendar year the fiscal year ends in.",
    )
    quarter = forms.TypedChoiceField(label="Quarter", coerce=int, choices=[(q, f"Q{q}") for q in range(1, 5)])
    channel = forms.ChoiceField(label="Channel")
    segment = forms.ModelChoiceField(
        label="Segment",
        queryset=Segment.objects.none(),
        required=False,
        empty_label="Every segment",
        help_text="Optional. Actuals are measured per channel, so a segment line shows its plan only.",
    )
    planned_spend = forms.DecimalField(label="Planned spend", min_value=0, max_digits=16, decimal_places=2)
    expected_cost_per_lead = forms.DecimalField(
        label="Expected cost per lead",
        required=False,
        min_value=0,
        max_digits=12,
        decimal_places=2,
        help_text="Optional. Leave blank to use the channel's own cost per lead over the last four quarters.",
    )
    note = forms.CharField(label="Note", max_length=300, required=False)

    def __init__(self, *args, org, **kwargs):
        super().__init__(*args, **kwargs)
        known = services.known_channels(org=org)
        self.fields["channel"].choices = [(name, name) for name in known]
        self.fields["segment"].queryset = Segment.objects.for_org(org).order_by("name")
        for name in ("planned_spend", "expected_cost_per_lead"):
            self.fields[name].widget.attrs.update({"step": "0.01", "min": "0"})


def _quarter_from(request) -> tuple[int, int]:
    """The quarter the address names, or the current one (a bad value falls back to it too)."""
    current = fiscal_quarter_of(request.org.fiscal_year_start_month, timezone.localdate())
    source = request.POST if request.method == "POST" else request.GET
    try:
        year, quarter = int(source["fiscal_year"]), int(source["quarter"])
    except (KeyError, ValueError):
        return current
    if not (services.MIN_YEAR <= year <= services.MAX_YEAR and 1 <= quarter <= 4):
        return current
    return year, quarter


def _quarter_url(org, year, quarter, name="strategy_channels") -> str:
    return f"{reverse(name, args=[org.slug])}?fiscal_year={year}&quarter={quarter}"


def _chart(report: services.Report, currency: str) -> str | None:
    if not report.rows:
        return None
    rows = report.rows
    return bar_chart(
        title="Spend and pipeline: plan against actual",
        x=[row.channel for row in rows],
        series={
            "Planned spend": [row.planned_spend for row in rows],
            "Actual spend": [row.actual_spend for row in rows],
            "Expected pipeline": [row.expected_pipeline for row in rows],
            "Actual pipeline": [row.actual_pipeline for row in rows],
        },
        y_title=currency,
    )


@org_view()
def channels_page(request):
    org = request.org
    year, quarter = _quarter_from(request)
    today = timezone.localdate()
    report = services.quarter_report(org=org, fiscal_year=year, quarter=quarter, today=today)
    previous, following = shift_quarter(year, quarter, -1), shift_quarter(year, quarter, 1)
    has_previous_lines = services.lines_for_quarter(
        org=org, fiscal_year=year, quarter=quarter, previous=True
    ).exists()
    return render(
        request,
        "strategy/channels.html",
        {
            "report": report,
            "year": year,
            "quarter": quarter,
            "previous": previous,
            "following": following,
            "previous_url": _quarter_url(org, *previous),
            "next_url": _quarter_url(org, *following),
            "is_current": (year, quarter) == fiscal_quarter_of(org.fiscal_year_start_month, today),
            "current_url": reverse("strategy_channels", args=[org.slug]),
            "export_url": _quarter_url(org, year, quarter, "strategy_channels_export"),
            "new_url": _quarter_url(org, year, quarter, "strategy_channel_new"),
            "has_lines": any(row.planned for row in report.rows),
            "has_previous_lines": has_previous_lines,
            "can_edit": request.membership.can(EDIT),
            "chart": _chart(report, org.currency),
        },
    )


@org_view()
def channels_export(request):
    year, quarter = _quarter_from(request)
    report = services.quarter_report(
        org=request.org, fiscal_year=year, quarter=quarter, today=timezone.localdate()
    )
    name = f"channel-budget-{request.org.slug}-FY{year}-Q{quarter}.csv"
    return csv_response(name, services.CSV_HEADER, services.csv_rows(report))


def _form_page(request, form, line=None, status=200):
    year, quarter = _quarter_from(request) if line is None else (line.fiscal_year, line.quarter)
    context = {
        "form": form,
        "line": line,
        "back_url": _quarter_url(request.org, year, quarter),
        "no_channels": not form.fields["channel"].choices,
    }
    return render(request, "strategy/channel_form.html", context, status=status)


def _save(request, form, save):
    """Run `save(cleaned_data)`; on success go back to the line's quarter, else show the form again."""
    try:
        line = save(form.cleaned_data)
    except ServiceError as exc:
        add_service_error(form, exc)
        return None
    messages.success(request, f"Budget line for {line.channel} saved.")
    return redirect(_quarter_url(request.org, line.fiscal_year, line.quarter))


@org_view(EDIT)
def channel_new(request):
    org = request.org
    year, quarter = _quarter_from(request)
    form = BudgetLineForm(request.POST or None, org=org, initial={"fiscal_year": year, "quarter": quarter})
    if request.method == "POST":
        if form.is_valid():
            done = _save(request, form, lambda data: services.budget_create(org=org, **data))
            if done:
                return done
        return _form_page(request, form, status=400)
    return _form_page(request, form)


@org_view(EDIT)
def channel_edit(request, pk):
    org = request.org
    line = get_for_org(ChannelBudget.objects.select_related("segment"), org=org, pk=pk)
    form = BudgetLineForm(request.POST or None, org=org, initial=services.budget_values(line))
    if request.method == "POST":
        if form.is_valid():
            done = _save(request, form, lambda data: services.budget_update(org=org, line=line, **data))
            if done:
                return done
        line.refresh_from_db()
        return _form_page(request, form, line, status=400)
    return _form_page(request, form, line)


@org_view(EDIT)
def channel_delete(request, pk):
    org = request.org
    line = get_for_org(ChannelBudget.objects.all(), org=org, pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    services.budget_delete(org=org, line=line)
    messages.success(
        request, f"Budget line for {line.channel} in FY{line.fiscal_year} Q{line.quarter} deleted."
    )
    return redirect(_quarter_url(org, line.fiscal_year, line.quarter))


@org_view(EDIT)
def channels_copy(request):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    org = request.org
    year, quarter = _quarter_from(request)
    copied = services.budget_copy_quarter(org=org, fiscal_year=year, quarter=quarter)
    if copied:
        messages.success(
            request, f"Copied {copied} line{'s' if copied != 1 else ''} from the previous quarter."
        )
    else:
        messages.info(request, "Nothing to copy: the previous quarter has no line this quarter lacks.")
    return redirect(_quarter_url(org, year, quarter))


def _reallocation_chart(result: services.Reallocation) -> str | None:
    if not result.ranked:
        return None
    return bar_chart(
        title="Share of spend against share of pipeline",
        x=[row.channel for row in result.ranked],
        series={
            "Spend share (%)": [round(row.spend_share, 1) for row in result.ranked],
            "Pipeline share (%)": [
                None if row.pipeline_share is None else round(row.pipeline_share, 1) for row in result.ranked
            ],
        },
        y_title="%",
    )


@org_view()
def reallocation_page(request):
    org = request.org
    today = engine.local_today(org)
    errors, result = {}, None
    try:
        start, end = services.reallocation_window(org, request.GET, today)
    except engine.QueryError as exc:
        errors = exc.errors
    else:
        try:
            result = services.reallocation(org=org, start=start, end=end, amount=request.GET.get("amount"))
        except ServiceError as exc:
            errors = {exc.field: exc.message}
    return render(
        request,
        "strategy/reallocation.html",
        {
            "result": result,
            "errors": errors,
            "values": {name: request.GET.get(name, "") for name in ("from", "to", "amount")},
            "chart": _reallocation_chart(result) if result else None,
        },
    )


urlpatterns = [
    path("channels/", channels_page, name="strategy_channels"),
    path("channels/export.csv", channels_export, name="strategy_channels_export"),
    path("channels/new/", channel_new, name="strategy_channel_new"),
    path("channels/copy/", channels_copy, name="strategy_channels_copy"),
    path("channels/<int:pk>/edit/", channel_edit, name="strategy_channel_edit"),
    path("channels/<int:pk>/delete/", channel_delete, name="strategy_channel_delete"),
    path("channels/reallocation/", reallocation_page, name="strategy_reallocation"),
]
