"""Forms for the settings pages. They parse and validate input; services write."""

import calendar
import zoneinfo
from datetime import datetime, time, timedelta

from django import forms
from django.utils.html import format_html

from .models import ApiKeyScope, Membership, Team, attribution_model_choices
from .roles import Role

MONTH_CHOICES = [(n, calendar.month_name[n]) for n in range(1, 13)]
TIME_ZONE_CHOICES = [(tz, tz) for tz in sorted(zoneinfo.available_timezones())]


class OrganizationCreateForm(forms.Form):
    name = forms.CharField(max_length=200)
    time_zone = forms.ChoiceField(choices=TIME_ZONE_CHOICES, initial="UTC")
    currency = forms.CharField(
        max_length=3, min_length=3, initial="USD", help_text="Three-letter ISO 4217 code, for example EUR."
    )
    fiscal_year_start_month = forms.TypedChoiceField(
        choices=MONTH_CHOICES, coerce=int, initial=1, label="Fiscal year starts in"
    )

    def clean_currency(self):
        return self.cleaned_data["currency"].upper()


class OrganizationForm(OrganizationCreateForm):
    require_mfa = forms.BooleanField(
        required=False,
        label="Require an authenticator app",
        help_text="Members must set up two-factor authentication before they can use this organisation.",
    )
    attribution_model = forms.ChoiceField(
        choices=attribution_model_choices,
        initial="linear",
        label="Default attribution model",
        help_text="Credits pipeline and revenue on campaign pages and in the campaigns API unless another "
        "model is picked there.",
    )

    def __init__(self, *args, read_only: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if read_only:
            for field in self.fields.values():
                field.disabled = True


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class InvitationForm(forms.Form):
    email = forms.EmailField(label="E-mail address")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class MembershipChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, membership):
        return f"{membership.user.display_name} ({membership.user.email})"


class MembershipMultipleChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, membership):
        return f"{membership.user.display_name} ({membership.user.email})"


class TeamForm(forms.Form):
    name = forms.CharField(max_length=120)
    kind = forms.ChoiceField(choices=Team.Kind.choices, initial=Team.Kind.SALES)
    manager = MembershipChoiceField(
        queryset=Membership.objects.none(), required=False, empty_label="No manager"
    )
    members = MembershipMultipleChoiceField(
        queryset=Membership.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, org, read_only: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        # Only this organisation's people can be chosen: another org's id fails validation.
        people = (
            Membership.objects.for_org(org)
            .filter(is_active=True)
            .select_related("user")
            .order_by("user__email")
        )
        self.fields["manager"].queryset = people
        self.fields["members"].queryset = people
        if read_only:
            for field in self.fields.values():
                field.disabled = True


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="Name it after the integration that uses it.")
    scopes = forms.MultipleChoiceField(
        choices=[
            (
                ApiKeyScope.READ,
                format_html("<strong>read</strong> <span class='help'>{}</span>", "GET requests"),
            ),
            (
                ApiKeyScope.WRITE,
                format_html(
                    "<strong>write</strong> <span class='help'>{}</span>", "create, update and delete"
                ),
            ),
        ],
        widget=forms.CheckboxSelectMultiple,
        initial=[ApiKeyScope.READ],
    )
    expires_on = forms.DateField(
        required=False,
        label="Expires on",
        help_text="Optional. The key stops working at the end of this day (organisation time).",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args, time_zone: str = "UTC", **kwargs):
        super().__init__(*args, **kwargs)
        self.time_zone = zoneinfo.ZoneInfo(time_zone)

    def expires_at(self):
        """The aware moment the key expires: midnight after the chosen day, in the organisation's zone."""
        day = self.cleaned_data.get("expires_on")
        if day is None:
            return None
        return datetime.combine(day + timedelta(days=1), time.min, tzinfo=self.time_zone)
