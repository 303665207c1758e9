"""The spend ledger pages: the filtered list with totals, entry forms, CSV export and CSV import.

The list, its totals and the export read the same filters from the address
through `services.spend.spend_entries`, so the export holds exactly the rows
the page lists. Marketers, RevOps leads and admins change the ledger (the
people who edit campaigns pay for them); everyone else reads it.
"""

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Sum
from django.http import HttpResponseBadRequest, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import path

from apps.accounts.access import org_view
from apps.audit.services import export_recorded
from apps.core.charts import bar_chart
from apps.core.csv import csv_response
from apps.core.errors import ServiceError
from apps.core.forms import add_service_error
from apps.core.lookups import get_for_org
from apps.measurement.models import SpendEntry, SpendType
from apps.measurement.services import spend as services
from apps.measurement.services import spend_import as importing

EDIT = "campaigns.edit"
EXPORT = "data.export"
PAGE_SIZE = 50
# The import page lists this many problems; the rest are counted.
PROBLEMS_SHOWN = 200
EXPORT_HEADER = ["channel", "campaign", "type", "period_start", "period_end", "amount", "note", "external_id"]


class SpendFilterForm(forms.Form):
    channel = forms.ChoiceField(label="Channel", required=False)
    type = forms.ChoiceField(label="Type", required=False, choices=[("", "Any type"), *SpendType.choices])
    campaign = forms.CharField(label="Campaign", required=False, max_length=255)
    start = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, data, *, channels: list[str]):
        super().__init__(data)
        current = data.get("channel") or ""
        options = sorted({*channels, *([current] if current else [])}, key=str.casefold)
        self.fields["channel"].choices = [("", "Any channel"), *((c, c) for c in options)]

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            self.add_error("end", "The period ends before it starts.")
        return data

    def filters(self) -> services.SpendFilters:
        if not self.is_valid():
            return services.SpendFilters()
        data = self.cleaned_data
        return services.SpendFilters(
            channel=data["channel"],
            type=data["type"],
            campaign=data["campaign"].strip(),
            start=data["start"],
            end=data["end"],
        )


class SpendForm(forms.Form):
    channel = forms.CharField(
        label="Channel",
        max_length=60,
        help_text="The canonical channel, as source mappings name it (Paid Social, Paid Search…). A mapped "
        "source such as linkedin is recorded under its channel.",
        widget=forms.TextInput(attrs={"list": "spend-channels", "autocomplete": "off"}),
    )
    campaign = forms.CharField(label="Campaign", max_length=255, required=False, help_text="As UTM campaign.")
    type = forms.ChoiceField(label="Type", choices=SpendType.choices, initial=SpendType.MEDIA)
    period_start = forms.DateField(label="Period start", widget=forms.DateInput(attrs={"type": "date"}))
    period_end = forms.DateField(
        label="Period end",
        help_text="Inclusive. Metrics spread the amount evenly over the period's days.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    amount = forms.DecimalField(label="Amount", min_value=0, max_digits=14, decimal_places=2)
    note = forms.CharField(label="Note", max_length=300, required=False)
    external_id = forms.CharField(
        label="Reference",
        max_length=120,
        required=False,
        help_text="Optional: an invoice number or the id in your finance tool. A CSV or API row with the "
        "same reference updates this entry.",
    )

    def __init__(self, *args, currency: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        if currency:
            self.fields["amount"].label = f"Amount ({currency})"
        self.fields["amount"].widget.attrs.update({"step": "0.01", "min": "0"})


class ImportForm(forms.Form):
    file = forms.FileField(label="CSV file", allow_empty_file=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        limit = filesizeformat(importing.IMPORT_MAX_BYTES)
        self.fields["file"].help_text = (
            f"Up to {limit} and {importing.IMPORT_MAX_ROWS:,} rows, with the column names in the first row. "
            "UTF-8, UTF-16 or Windows-1252; commas, semicolons or tabs."
        )
        self.fields["file"].widget.attrs["accept"] = ".csv,.txt,.tsv,text/csv,text/plain"


def _back(request, name="measurement_spend", **kwargs):
    return redirect(name, org_slug=request.org.slug, **kwargs)


def _filter_form(request) -> SpendFilterForm:
    return SpendFilterForm(request.GET, channels=services.spend_channels(org=request.org))


# --- The ledger ----------------------------------------------------------------------------------


@org_view()
def spend_ledger(request):
    org = request.org
    form = _filter_form(request)
    filters = form.filters()
    entries = services.spend_entries(org=org, filters=filters)
    listed = entries.aggregate(count=Count("id"), amount=Sum("amount"))
    paginator = Paginator(entries.order_by("-period_start", "channel", "-id"), PAGE_SIZE)
    paginator.count = listed["count"]  # already counted with the sum: no second COUNT query
    page = paginator.get_page(request.GET.get("page"))
    totals = services.spend_totals(org=org, filters=filters)
    chart = None
    if totals.by_month:
        months = [month.strftime("%b %Y") for month, _ in totals.by_month]
        series = {
            channel: [float(totals.matrix[month].get(channel, 0)) for month, _ in totals.by_month]
            for channel, _ in totals.by_channel
        }
        chart = bar_chart(title="Spend by month", x=months, series=series, y_title=org.currency, stacked=True)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "measurement/spend.html",
        {
            "form": form,
            "filters": filters,
            "filtered": any((filters.channel, filters.type, filters.campaign, filters.start, filters.end)),
            "page": page,
            "listed": listed,
            "totals": totals,
            "by_channel": [
                (channel, amount, (amount / totals.total * 100) if totals.total else 0)
                for channel, amount in totals.by_channel
            ],
            "chart": chart,
            "query": query.urlencode(),
            "can_edit": request.membership.can(EDIT),
            "can_export": request.membership.can(EXPORT),
        },
    )


@org_view(EXPORT)
def spend_export(request):
    form = _filter_form(request)
    if not form.is_valid():
        return HttpResponseBadRequest("These filters are not valid; fix them on the ledger page first.")
    filters = form.filters()
    entries = services.spend_entries(org=request.org, filters=filters).order_by(
        "period_start", "channel", "id"
    )
    export_recorded(
        request,
        what="spend ledger",
        rows=entries.count(),
        filters={k: str(v) for k, v in form.cleaned_data.items() if v},
    )
    rows = (
        [e.channel, e.campaign_ref, e.type, e.period_start, e.period_end, e.amount, e.note, e.external_id]
        for e in entries.iterator(chunk_size=2000)
    )
    return csv_response(f"spend-{request.org.slug}.csv", EXPORT_HEADER, rows)


# --- Entries -------------------------------------------------------------------------------------


def _form_page(request, form, entry=None, status=200):
    return render(
        request,
        "measurement/spend_form.html",
        {"form": form, "entry": entry, "channels": services.spend_channels(org=request.org)},
        status=status,
    )


@org_view(EDIT)
def spend_new(request):
    form = SpendForm(request.POST or None, currency=request.org.currency)
    if request.method == "POST":
        if form.is_valid():
            try:
                entry = services.spend_create(org=request.org, actor=request.user, **form.cleaned_data)
            except ServiceError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"Spend of {entry.amount:,} on {entry.channel} recorded.")
                return _back(request)
        return _form_page(request, form, status=400)
    return _form_page(request, form)


@org_view(EDIT)
def spend_edit(request, pk):
    entry = get_for_org(SpendEntry.objects.all(), org=request.org, pk=pk)
    initial = services.entry_values(entry)
    form = SpendForm(request.POST or None, initial=initial, currency=request.org.currency)
    if request.method == "POST":
        if form.is_valid():
            try:
                services.spend_update(org=request.org, entry=entry, **form.cleaned_data)
            except ServiceError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"Spend entry for {entry.channel} saved.")
                return _back(request)
        entry.refresh_from_db()
        return _form_page(request, form, entry, status=400)
    return _form_page(request, form, entry)


@org_view(EDIT)
def spend_delete(request, pk):
    entry = get_for_org(SpendEntry.objects.all(), org=request.org, pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    services.spend_delete(org=request.org, entry=entry)
    messages.success(
        request, f"Spend entry of {entry.amount:,} on {entry.channel} ({entry.period_start}) deleted."
    )
    return _back(request)


# --- Import --------------------------------------------------------------------------------------


@org_view(EDIT)
def spend_import(request):
    form = ImportForm(request.POST or None, request.FILES or None)
    context = {"form": form, "aliases": importing.COLUMN_ALIASES, "currency": request.org.currency}
    if request.method != "POST":
        return render(request, "measurement/spend_import.html", context)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            result = importing.spend_import(
                org=request.org, file=upload, file_name=upload.name, actor=request.user
            )
        except services.SpendRowsError as exc:
            context.update(
                problems=exc.problems[:PROBLEMS_SHOWN],
                problem_count=len(exc.problems),
                problem_rows=len({row for row, _, _ in exc.problems}),
                file_name=upload.name,
            )
        except ServiceError as exc:
            add_service_error(form, exc)
        else:
            ignored = (
                f" Ignored columns: {', '.join(result.ignored_columns)}." if result.ignored_columns else ""
            )
            messages.success(
                request,
                f"Imported {upload.name}: {result.created} new entr{'y' if result.created == 1 else 'ies'}, "
                f"{result.updated} updated by their reference.{ignored}",
            )
            return _back(request)
    return render(request, "measurement/spend_import.html", context, status=400)


urlpatterns = [
    path("spend/", spend_ledger, name="measurement_spend"),
    path("spend/new/", spend_new, name="measurement_spend_new"),
    path("spend/export/", spend_export, name="measurement_spend_export"),
    path("spend/import/", spend_import, name="measurement_spend_import"),
    path("spend/<int:pk>/", spend_edit, name="measurement_spend_edit"),
    path("spend/<int:pk>/delete/", spend_delete, name="measurement_spend_delete"),
]
