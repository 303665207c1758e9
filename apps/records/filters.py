"""Filters shared by the API and the list pages (django-filter)."""

import django_filters as filters

from .models import Account, Lead, Opportunity, Touchpoint


class LeadFilter(filters.FilterSet):
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
