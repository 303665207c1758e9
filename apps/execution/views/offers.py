"""The offers list: every assignment behind speed-to-lead, SLA compliance and the reject rate.

The review dashboards drill into it with their window and filters
(`from`, `to`, `channel`, `campaign`, `owner`, `team`) and, for one figure,
`show` (see apps.execution.selectors.offers). `?format=csv` streams every row
the filters keep.
"""

from datetime import timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.core.paginator import Paginator
from django.shortcuts import render
from django.urls import path
from django.utils import timezone

from apps.accounts.access import org_view, require_permission
from apps.audit.services import export_recorded
from apps.core.csv import csv_response
from apps.execution.selectors import offers as selectors
from apps.execution.selectors.reports import names_for

from .reports import EXPORT, MAX_DAYS, _by_name

PAGE_SIZE = 50
DEFAULT_DAYS = 30


class OfferFilterForm(forms.Form):
    start = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    channel = forms.CharField(label="Channel", required=False, max_length=60)
    campaign = forms.CharField(label="Campaign", required=False, max_length=255)
    team = forms.TypedChoiceField(label="Team", required=False, coerce=int, empty_value=None)
    owner = forms.TypedChoiceField(label="Rep", required=False, coerce=int, empty_value=None)
    show = forms.ChoiceField(label="Show", required=False, choices=list(selectors.SHOW.items()))

    def __init__(self, data, *, names, today):
        # The dashboards' links name the days `from` and `to`.
        data = data.copy()
        for outer, inner in (("from", "start"), ("to", "end")):
            if data.get(outer) and not data.get(inner):
                data[inner] = data[outer]
        super().__init__(data)
        self.today = today
        self.fields["team"].choices = [("", "Any team"), *sorted(names.teams.items(), key=_by_name)]
        self.fields["owner"].choices = [("", "Anyone"), *sorted(names.people.items(), key=_by_name)]

    def clean(self):
        data = super().clean()
        start = data.get("start") or self.today - timedelta(days=DEFAULT_DAYS - 1)
        end = data.get("end") or self.today
        if end < start:
            raise forms.ValidationError("The period ends before it starts.")
        if (end - start).days + 1 > MAX_DAYS:
            raise forms.ValidationError(f"Pick at most {MAX_DAYS} days.")
        data["start"], data["end"] = start, end
        return data


def _query(form: OfferFilterForm, tz: ZoneInfo, today) -> selectors.OfferQuery:
    if not form.is_valid():
        return selectors.OfferQuery(start=today - timedelta(days=DEFAULT_DAYS - 1), end=today, tz=tz)
    data = form.cleaned_data
    return selectors.OfferQuery(
        start=data["start"],
        end=data["end"],
        tz=tz,
        channel=data["channel"] or None,
        campaign=data["campaign"] or None,
        owner=data["owner"],
        team=data["team"],
        show=data["show"] or "",
    )


def _minutes(later, earlier) -> float | None:
    if later is None or earlier is None:
        return None
    return round(max((later - earlier).total_seconds(), 0) / 60, 1)


def _row(offer, tz: ZoneInfo) -> dict:
    lead = offer.lead
    return {
        "offer": offer,
        "offered": timezone.localtime(offer.offered_at, tz),
        "accept_minutes": _minutes(offer.accepted_at, offer.offered_at),
        "touch_minutes": _minutes(offer.first_touch_at, offer.offered_at),
        # Speed-to-lead is measured on a lead's first offer only: capture to first touch.
        "speed_minutes": _minutes(offer.first_touch_at, lead.captured_at) if offer.first else None,
        "timers": [(timer.get_clock_display(), selectors.sla_outcome(timer)) for timer in offer.timers.all()],
    }


COLUMNS = [
    "Offered at", "Lead", "E-mail", "Channel", "Campaign", "Rep", "First offer", "Status", "Reject reason",
    "Minutes to accept", "Minutes to first touch", "Speed-to-lead (min)", "SLA",
]  # fmt: skip


def _csv_rows(found, tz: ZoneInfo):
    for offer in found.iterator(chunk_size=500):
        row = _row(offer, tz)
        yield [
            row["offered"].strftime("%Y-%m-%d %H:%M"),
            str(offer.lead),
            offer.lead.email,
            offer.lead.channel,
            offer.lead.utm_campaign,
            offer.assignee.user.display_name,
            "yes" if offer.first else "no",
            offer.get_status_display(),
            offer.reject_reason.label if offer.reject_reason else "",
            row["accept_minutes"],
            row["touch_minutes"],
            row["speed_minutes"],
            "; ".join(f"{clock}: {outcome}" for clock, outcome in row["timers"]),
        ]


@org_view()
def execution_offers(request):
    org = request.org
    tz = ZoneInfo(org.time_zone)
    today = timezone.now().astimezone(tz).date()
    names = names_for(org=org)
    form = OfferFilterForm(request.GET, names=names, today=today)
    query = _query(form, tz, today)
    found = selectors.offers(org, query)
    if request.GET.get("format") == "csv":
        require_permission(request, EXPORT)
        export_recorded(
            request,
            what="offers",
            rows=found.count(),
            filters={k: v for k, v in request.GET.items() if k != "format"},
        )
        return csv_response(f"offers-{org.slug}-{query.start}-{query.end}.csv", COLUMNS, _csv_rows(found, tz))
    page = Paginator(found, PAGE_SIZE).get_page(request.GET.get("page"))
    export_query = request.GET.copy()
    export_query.pop("page", None)
    return render(
        request,
        "execution/reports/offers.html",
        {
            "form": form,
            "query": query,
            "page": page,
            "rows": [_row(offer, tz) for offer in page.object_list],
            "totals": selectors.totals(found),
            "can_export": request.membership.can(EXPORT),
            "export_query": export_query.urlencode(),
        },
    )


urlpatterns = [path("reports/offers/", execution_offers, name="execution_offers")]
