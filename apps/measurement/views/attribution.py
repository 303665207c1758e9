"""The attribution workbench: every model side by side, one opportunity's path, and the settings.

The table, its chart and its CSV export read `services.attribution.attribution_table`
with the filters of the address, so the export holds exactly the table shown, and
`GET /api/v1/attribution/` answers the same numbers. Everyone reads the workbench;
RevOps leads and admins change the lookback window and the half-life.
"""

import datetime

from django import forms
from django.contrib import messages
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import path

from apps.accounts.access import org_view
from apps.audit.services import export_recorded
from apps.core.charts import bar_chart
from apps.core.csv import csv_response
from apps.core.errors import ServiceError
from apps.core.forms import add_service_error
from apps.core.lookups import get_for_org
from apps.measurement.attribution import compute
from apps.measurement.metrics.engine import local_today
from apps.measurement.services import attribution as services
from apps.records.models import Opportunity

EXPORT = "data.export"
EDIT = "definitions.edit"
CHART_GROUPS = 12  # the chart shows the largest groups; the table shows them all
PERIODS = [
    ("last_30", "Last 30 days"),
    ("last_90", "Last 90 days"),
    ("quarter", "This quarter"),
    ("custom", "Custom"),
]
GROUP_CHOICES = [("channel", "Channel"), ("source", "Source"), ("campaign", "Campaign")]
RECENT_OPPORTUNITIES = 10


class AttributionFilterForm(forms.Form):
    period = forms.ChoiceField(label="Period", choices=PERIODS, required=False)
    start = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    group_by = forms.ChoiceField(label="Rows", choices=GROUP_CHOICES, required=False)
    measure = forms.ChoiceField(label="Measure", choices=list(services.MEASURES.items()), required=False)

    def __init__(self, data, *, today: datetime.date):
        super().__init__(data)
        self.today = today

    def clean(self):
        data = super().clean()
        period = data.get("period") or ("custom" if data.get("start") or data.get("end") else "last_90")
        data["period"] = period
        if period == "custom":
            if not data.get("start"):
                self.add_error("start", "Give the first day of the period.")
            end = data.get("end") or self.today
            if data.get("start") and end < data["start"]:
                self.add_error("end", "The period ends before it starts.")
            data["end"] = end
        else:
            data["start"], data["end"] = period_bounds(period, self.today)
        data["group_by"] = data.get("group_by") or "channel"
        data["measure"] = data.get("measure") or "opportunities"
        return data


def period_bounds(period: str, today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """A preset period's first and last day (inclusive), ending today."""
    if period == "last_30":
        return today - datetime.timedelta(days=29), today
    if period == "quarter":
        return datetime.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1), today
    return today - datetime.timedelta(days=89), today


class SettingsForm(forms.Form):
    lookback_days = forms.IntegerField(
        label="Lookback window (days)",
        min_value=1,
        max_value=services.MAX_LOOKBACK_DAYS,
        help_text="Touches from the start of the day this many days before an opportunity's created date "
        "earn credit; older ones do not.",
    )
    half_life_days = forms.FloatField(
        label="Time-decay half-life (days)",
        min_value=0.01,
        max_value=services.MAX_HALF_LIFE_DAYS,
        help_text="Under the time-decay model a touch's weight halves for every this many days it came "
        "before the opportunity was created.",
    )


def _filters(request):
    """The validated filters of the address (the defaults when they do not validate) and the form."""
    form = AttributionFilterForm(request.GET, today=local_today(request.org))
    if form.is_valid():
        return form, form.cleaned_data
    start, end = period_bounds("last_90", form.today)
    return form, {
        "period": "last_90",
        "start": start,
        "end": end,
        "group_by": "channel",
        "measure": "opportunities",
    }


def _columns(table, measure: str) -> list[dict]:
    """The table as shown: one row per group, one cell per model."""
    return [
        {"label": row.label, "value": row.value, "cells": [row.get(model, measure) for model in table.models]}
        for row in table.rows
    ]


@org_view()
def attribution(request):
    org = request.org
    form, filters = _filters(request)
    table = services.attribution_table(
        org=org, start=filters["start"], end=filters["end"], group_by=filters["group_by"]
    )
    measure = filters["measure"]
    money = measure in ("pipeline", "revenue")
    chart = None
    if not table.empty:
        shown = table.rows[:CHART_GROUPS]
        chart = bar_chart(
            title=f"{services.MEASURES[measure]} by {filters['group_by']} and model",
            x=[row.label for row in shown],
            series={
                compute.LABELS[model]: [float(row.get(model, measure)) for row in shown]
                for model in table.models
            },
            y_title=org.currency if money else "",
        )
    fit = compute.markov_fit(org)
    recent = (
        Opportunity.objects.for_org(org)
        .filter(created_date__gte=filters["start"], created_date__lte=filters["end"])
        .order_by("-created_date", "-id")
        .only("id", "name", "created_date", "status", "amount")[:RECENT_OPPORTUNITIES]
    )
    query = request.GET.urlencode()
    return render(
        request,
        "measurement/attribution.html",
        {
            "form": form,
            "filters": filters,
            "table": table,
            "labels": [compute.LABELS[model] for model in table.models],
            "rows": _columns(table, measure),
            "totals": [table.totals[model][measure] for model in table.models],
            "measure_label": services.MEASURES[measure],
            "money": money,
            "chart": chart,
            "fit": fit,
            "has_attribution": table.rows or services.has_attribution(org=org),
            "recent": recent,
            "settings": services.measurement_settings(org=org),
            "query": query,
            "can_export": request.membership.can(EXPORT),
            "can_edit": request.membership.can(EDIT),
        },
    )


@org_view(EXPORT)
def attribution_export(request):
    form = AttributionFilterForm(request.GET, today=local_today(request.org))
    if not form.is_valid():
        return HttpResponseBadRequest("These filters are not valid; fix them on the attribution page first.")
    filters = form.cleaned_data
    table = services.attribution_table(
        org=request.org, start=filters["start"], end=filters["end"], group_by=filters["group_by"]
    )
    measure = filters["measure"]
    export_recorded(
        request,
        what="attribution",
        rows=len(table.rows),
        filters={k: str(v) for k, v in filters.items() if v},
    )
    header = [filters["group_by"], *(compute.LABELS[model] for model in table.models)]
    rows = [[row["label"], *row["cells"]] for row in _columns(table, measure)]
    rows.append(["Total", *(table.totals[model][measure] for model in table.models)])
    name = f"attribution-{request.org.slug}-{measure}-{filters['start']}-{filters['end']}.csv"
    return csv_response(name, header, rows)


@org_view()
def attribution_opportunity(request, pk):
    opportunity = get_for_org(
        Opportunity.objects.select_related("primary_contact", "account"), org=request.org, pk=pk
    )
    credits = compute.opportunity_credits(request.org, opportunity)
    models = compute.ALL_MODELS
    touches = [
        {"touch": touch, "shares": [touch.shares[model] * 100 for model in models]}
        for touch in credits.touches
    ]
    return render(
        request,
        "measurement/attribution_opportunity.html",
        {
            "opportunity": opportunity,
            "credits": credits,
            "labels": [compute.LABELS[model] for model in models],
            "touches": touches,
            "totals": [sum((t.shares[model] for t in credits.touches), start=0) * 100 for model in models],
        },
    )


@org_view(EDIT)
def attribution_settings(request):
    org = request.org
    current = services.measurement_settings(org=org)
    initial = {
        "lookback_days": current.attribution_lookback_days,
        "half_life_days": current.time_decay_half_life_days,
    }
    form = SettingsForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if form.is_valid():
            try:
                services.attribution_settings_update(org=org, **form.cleaned_data)
            except ServiceError as exc:
                add_service_error(form, exc)
            else:
                if form.cleaned_data != initial:
                    messages.success(
                        request,
                        "Attribution settings saved. Every opportunity's credit is being recomputed; the "
                        "workbench shows the new numbers when that rollup has finished.",
                    )
                else:
                    messages.info(request, "Nothing changed.")
                return redirect("measurement_attribution", org_slug=org.slug)
        return render(request, "measurement/attribution_settings.html", {"form": form}, status=400)
    return render(request, "measurement/attribution_settings.html", {"form": form})


urlpatterns = [
    path("attribution/", attribution, name="measurement_attribution"),
    path("attribution/export/", attribution_export, name="measurement_attribution_export"),
    path("attribution/settings/", attribution_settings, name="measurement_attribution_settings"),
    path(
        "attribution/opportunities/<int:pk>/",
        attribution_opportunity,
        name="measurement_attribution_opportunity",
    ),
]
