"""The incrementality register: holdout tests, the lift each measured, and what attribution credits.

Attribution shares out conversions that happened; a holdout test measures how
many the program caused. The page shows both for each test, so a channel whose
attributed credit far exceeds its measured lift stands out. Whoever edits
campaigns (marketers, RevOps leads, admins) keeps the register; everyone reads it.
"""

from django import forms
from django.contrib import messages
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import path

from apps.accounts.access import org_view
from apps.core.errors import ServiceError
from apps.core.forms import add_service_error
from apps.core.lookups import get_for_org
from apps.measurement.models import HoldoutTest
from apps.measurement.services import holdouts as services
from apps.measurement.services.spend import spend_channels

EDIT = "campaigns.edit"


class HoldoutForm(forms.Form):
    name = forms.CharField(label="Name", max_length=200)
    channel = forms.CharField(
        label="Channel",
        max_length=60,
        required=False,
        help_text="The channel the program ran in, to compare with what attribution credits it.",
        widget=forms.TextInput(attrs={"list": "holdout-channels", "autocomplete": "off"}),
    )
    campaign = forms.CharField(label="Campaign", max_length=255, required=False, help_text="As UTM campaign.")
    hypothesis = forms.CharField(
        label="Hypothesis",
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What the program should change, and by how much.",
    )
    period_start = forms.DateField(label="Start", widget=forms.DateInput(attrs={"type": "date"}))
    period_end = forms.DateField(label="End", widget=forms.DateInput(attrs={"type": "date"}))
    treatment_size = forms.IntegerField(
        label="Treatment group size", min_value=1, help_text="People who saw it."
    )
    treatment_conversions = forms.IntegerField(label="Treatment conversions", min_value=0)
    control_size = forms.IntegerField(label="Control group size", min_value=1, help_text="People held out.")
    control_conversions = forms.IntegerField(label="Control conversions", min_value=0)
    conversion_event = forms.CharField(
        label="Conversion",
        max_length=120,
        required=False,
        initial=services.DEFAULT_CONVERSION_EVENT,
        help_text="What counts as a conversion in both groups.",
    )
    notes = forms.CharField(
        label="Notes", required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2})
    )


def _back(request):
    return redirect("measurement_holdouts", org_slug=request.org.slug)


def _points(value: float) -> str:
    return f"{value * 100:+.2f}"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:+.1f} %"


def display(row: services.HoldoutRow) -> dict:
    """What the register shows of one test: rates, lift and intervals as people read them."""
    result = row.lift
    relative_ci = result.relative_lift_ci
    return {
        "row": row,
        "treatment_rate": f"{result.treatment_rate:.2%}",
        "control_rate": f"{result.control_rate:.2%}",
        "difference": _points(result.difference),
        "difference_ci": f"{_points(result.difference_ci[0])} to {_points(result.difference_ci[1])}",
        "relative": _percent(result.relative_lift),
        "relative_ci": f"{_percent(relative_ci[0])} to {_percent(relative_ci[1])}" if relative_ci else "",
        "p_value": "< 0.001" if result.p_value < 0.001 else f"{result.p_value:.3f}",
        "incremental": f"{row.incremental:,.1f}",
        "incremental_ci": f"{row.incremental_ci[0]:,.1f} to {row.incremental_ci[1]:,.1f}",
        "badge": {"positive": "badge-ok", "negative": "badge-bad"}.get(result.verdict, "badge-warn"),
    }


@org_view()
def holdouts(request):
    tests = HoldoutTest.objects.for_org(request.org).order_by("-period_end", "-id")
    rows = [display(row) for row in services.holdout_rows(org=request.org, tests=tests)]
    return render(
        request,
        "measurement/holdouts.html",
        {"rows": rows, "can_edit": request.membership.can(EDIT)},
    )


def _form_page(request, form, test=None, status=200):
    context = {"form": form, "test": test, "channels": spend_channels(org=request.org)}
    if test is not None:
        context["current"] = display(services.holdout_rows(org=request.org, tests=[test])[0])
    return render(request, "measurement/holdout_form.html", context, status=status)


@org_view(EDIT)
def holdout_new(request):
    form = HoldoutForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            try:
                test = services.holdout_create(org=request.org, **form.cleaned_data)
            except ServiceError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"Holdout test “{test.name}” added to the register.")
                return _back(request)
        return _form_page(request, form, status=400)
    return _form_page(request, form)


@org_view(EDIT)
def holdout_edit(request, pk):
    test = get_for_org(HoldoutTest.objects.all(), org=request.org, pk=pk)
    form = HoldoutForm(request.POST or None, initial=services.holdout_values(test))
    if request.method == "POST":
        if form.is_valid():
            try:
                services.holdout_update(org=request.org, test=test, **form.cleaned_data)
            except ServiceError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"Holdout test “{test.name}” saved.")
                return _back(request)
        test.refresh_from_db()
        return _form_page(request, form, test, status=400)
    return _form_page(request, form, test)


@org_view(EDIT)
def holdout_delete(request, pk):
    test = get_for_org(HoldoutTest.objects.all(), org=request.org, pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    services.holdout_delete(org=request.org, test=test)
    messages.success(request, f"Holdout test “{test.name}” deleted.")
    return _back(request)


urlpatterns = [
    path("holdouts/", holdouts, name="measurement_holdouts"),
    path("holdouts/new/", holdout_new, name="measurement_holdout_new"),
    path("holdouts/<int:pk>/", holdout_edit, name="measurement_holdout_edit"),
    path("holdouts/<int:pk>/delete/", holdout_delete, name="measurement_holdout_delete"),
]
