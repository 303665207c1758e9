"""Filters shared by the API and the list pages (django-filter)."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import django_filters as filters
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from .models import Account, Lead, Opportunity, StageEvent, Touchpoint


def _search(*fields):
    """A filter method matching `value` (case-insensitively) inside any of `fields`."""

    def method(queryset, name, value):
        value = (value or "").strip()
        if not value:
            return queryset
        query = Q()
        for field in fields:
            query |= Q(**{f"{field}__icontains": value})
        return queryset.filter(query)

    return method


class DayRangeMixin:
    """Date filters on date-time columns, by whole days in the organisation's time zone.

    The list pages offer date pickers; comparing `captured_at` with the start of
    a day (instead of casting the column with `__date`) keeps the index usable.
    """

    def _day_start(self, day) -> datetime:
        org = getattr(self.request, "org", None) if self.request is not None else None
        zone = ZoneInfo(org.time_zone) if org is not None else timezone.get_current_timezone()
        return datetime.combine(day, time.min, tzinfo=zone)

    def from_day(self, queryset, name, value):
        return queryset.filter(**{f"{name}__gte": self._day_start(value)}) if value else queryset

    def to_day(self, queryset, name, value):
        # Inclusive of the last day: everything before the next day starts.
        return (
            queryset.filter(**{f"{name}__lt": self._day_start(value + timedelta(days=1))})
            if value
            else queryset
        )


class FirstEntryMixin(DayRangeMixin):
    """Leads by the local days they first entered a stage, or were created (their first stage event).

    What the funnel figures count (apps.measurement.facts): a number on a dashboard links here with
    entered_stage + entered_from/entered_to, or new_from/new_to, and lists exactly the leads behind it.
    The dates only apply together: `entered_stage` reads both from the form."""

    def _days(self, start_name, end_name):
        data = self.form.cleaned_data
        start, end = data.get(start_name), data.get(end_name)
        bounds = {}
        if start:
            bounds["at__gte"] = self._day_start(start)
        if end:
            bounds["at__lt"] = self._day_start(end + timedelta(days=1))
        return start, bounds

    def first_entry(self, queryset, name, value):
        value = (value or "").strip()
        if not value:
            return queryset
        start, bounds = self._days("entered_from", "entered_to")
        # The organisation too, so the (organization, lead, at) index serves the lookups.
        events = StageEvent.objects.filter(
            organization=OuterRef("organization"), lead=OuterRef("pk"), to_stage=value
        )
        queryset = queryset.filter(Exists(events.filter(**bounds)))
        if start:
            queryset = queryset.exclude(Exists(events.filter(at__lt=bounds["at__gte"])))
        return queryset

    def first_event(self, queryset, name, value):
        if name != "new_from" and self.form.cleaned_data.get("new_from"):
            return queryset  # new_from applies both bounds
        start, bounds = self._days("new_from", "new_to")
        if not bounds:
            return queryset
        events = StageEvent.objects.filter(organization=OuterRef("organization"), lead=OuterRef("pk"))
        queryset = queryset.filter(Exists(events.filter(**bounds)))
        if start:
            queryset = queryset.exclude(Exists(events.filter(at__lt=bounds["at__gte"])))
        return queryset

    def dates_only(self, queryset, name, value):
        return queryset  # read by first_entry


def _in_team(prefix: str):
    """A filter method: the owner is an active member of the team (a team of another organisation has no
    members among this organisation's records)."""

    def method(queryset, name, value):
        if value in (None, ""):
            return queryset
        # One TeamMember per team and member: no duplicate rows.
        return queryset.filter(**{f"{prefix}team_memberships__team_id": value, f"{prefix}is_active": True})

    return method


def _in_segment(queryset, name, value):
    from apps.strategy.models import SegmentMembership

    if value in (None, ""):
        return queryset
    members = SegmentMembership.objects.filter(lead=OuterRef("pk"), segment_id=value)
    return queryset.filter(Exists(members))


class LeadFilter(FirstEntryMixin, filters.FilterSet):
    email = filters.CharFilter(lookup_expr="iexact")
    email_contains = filters.CharFilter(field_name="email", lookup_expr="icontains")
    stage = filters.CharFilter(field_name="stage__key")
    owner = filters.NumberFilter(field_name="owner_id")
    unowned = filters.BooleanFilter(field_name="owner", lookup_expr="isnull")
    account = filters.NumberFilter(field_name="account_id")
    source = filters.CharFilter(lookup_expr="iexact")
    channel = filters.CharFilter(lookup_expr="iexact")
    country = filters.CharFilter(lookup_expr="iexact")
    company = filters.CharFilter(lookup_expr="icontains")
    utm_campaign = filters.CharFilter(lookup_expr="iexact")
    external_id = filters.CharFilter()
    score_min = filters.NumberFilter(field_name="score", lookup_expr="gte")
    completeness_below = filters.NumberFilter(field_name="completeness", lookup_expr="lt")
    captured_after = filters.IsoDateTimeFilter(field_name="captured_at", lookup_expr="gte")
    captured_before = filters.IsoDateTimeFilter(field_name="captured_at", lookup_expr="lt")
    updated_after = filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")
    # For the list page: a search box and whole-day date pickers.
    q = filters.CharFilter(method=_search("first_name", "last_name", "email", "company"), label="Search")
    captured_from = filters.DateFilter(field_name="captured_at", method="from_day", label="Captured from")
    captured_to = filters.DateFilter(field_name="captured_at", method="to_day", label="Captured to")
    # Drill-down from the review dashboards (the numbers count these leads).
    team = filters.NumberFilter(method=_in_team("owner__"), label="Owner's team")
    segment = filters.NumberFilter(method=_in_segment, label="Segment")
    entered_stage = filters.CharFilter(method="first_entry", label="First entered stage")
    entered_from = filters.DateFilter(method="dates_only", label="First entered from")
    entered_to = filters.DateFilter(method="dates_only", label="First entered to")
    new_from = filters.DateFilter(method="first_event", label="Created (first stage) from")
    new_to = filters.DateFilter(method="first_event", label="Created (first stage) to")

    class Meta:
        model = Lead
        fields = []


class AccountFilter(filters.FilterSet):
    name = filters.CharFilter(lookup_expr="icontains")
    domain = filters.CharFilter(lookup_expr="iexact")
    industry = filters.CharFilter(lookup_expr="iexact")
    country = filters.CharFilter(lookup_expr="iexact")
    region = filters.CharFilter(lookup_expr="iexact")
    owner = filters.NumberFilter(field_name="owner_id")
    external_id = filters.CharFilter()
    employees_min = filters.NumberFilter(field_name="employees", lookup_expr="gte")
    employees_max = filters.NumberFilter(field_name="employees", lookup_expr="lte")
    updated_after = filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")
    q = filters.CharFilter(method=_search("name", "domain"), label="Search")
    unowned = filters.BooleanFilter(field_name="owner", lookup_expr="isnull")

    class Meta:
        model = Account
        fields = []


class OpportunityFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=Opportunity.Status.choices)
    type = filters.ChoiceFilter(choices=Opportunity.Type.choices)
    stage = filters.CharFilter(lookup_expr="iexact")
    account = filters.NumberFilter(field_name="account_id")
    owner = filters.NumberFilter(field_name="owner_id")
    source = filters.CharFilter(lookup_expr="iexact")
    external_id = filters.CharFilter()
    amount_min = filters.NumberFilter(field_name="amount", lookup_expr="gte")
    close_after = filters.DateFilter(field_name="close_date", lookup_expr="gte")
    close_before = filters.DateFilter(field_name="close_date", lookup_expr="lt")
    created_after = filters.DateFilter(field_name="created_date", lookup_expr="gte")
    created_before = filters.DateFilter(field_name="created_date", lookup_expr="lt")
    q = filters.CharFilter(method=_search("name", "account__name"), label="Search")
    unowned = filters.BooleanFilter(field_name="owner", lookup_expr="isnull")
    # Drill-down from the review dashboards: opportunity facts take the primary contact's channel and
    # campaign.
    channel = filters.CharFilter(field_name="primary_contact__channel", lookup_expr="iexact")
    campaign = filters.CharFilter(field_name="primary_contact__utm_campaign", lookup_expr="iexact")
    team = filters.NumberFilter(method=_in_team("owner__"), label="Owner's team")

    class Meta:
        model = Opportunity
        fields = []


class TouchpointFilter(filters.FilterSet):
    lead = filters.NumberFilter(field_name="lead_id")
    account = filters.NumberFilter(field_name="account_id")
    channel = filters.CharFilter(lookup_expr="iexact")
    source = filters.CharFilter(lookup_expr="iexact")
    utm_campaign = filters.CharFilter(lookup_expr="iexact")
    type = filters.CharFilter(lookup_expr="iexact")
    external_id = filters.CharFilter()
    occurred_after = filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = Touchpoint
        fields = []
