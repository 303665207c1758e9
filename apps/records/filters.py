"""Filters shared by the API and the list pages (django-filter)."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import django_filters as filters
from django.db.models import Q
from django.utils import timezone

from .models import Account, Lead, Opportunity, Touchpoint


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


class LeadFilter(DayRangeMixin, filters.FilterSet):
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
