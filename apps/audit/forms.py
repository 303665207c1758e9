"""Filters for the audit trail and the security log (GET forms)."""

import zoneinfo
from datetime import datetime, time, timedelta

from django import forms

from .models import SecurityEvent
from .selectors import AUDIT_ACTIONS, audit_models


class _DateRangeForm(forms.Form):
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    actor = forms.CharField(required=False, max_length=254, label="Who (e-mail contains)")

    def __init__(self, *args, time_zone: str = "UTC", **kwargs):
        super().__init__(*args, **kwargs)
        self.time_zone = zoneinfo.ZoneInfo(time_zone)

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("until", "The end date is before the start date.")
        return data

    def range(self) -> dict:
        """The dates as aware datetimes in the organisation's zone; `until` covers the whole day."""
        data = self.cleaned_data
        since, until = data.get("since"), data.get("until")
        return {
            "since": datetime.combine(since, time.min, tzinfo=self.time_zone) if since else None,
            "until": datetime.combine(until + timedelta(days=1), time.min, tzinfo=self.time_zone)
            if until
            else None,
        }


class AuditFilterForm(_DateRangeForm):
    model = forms.ChoiceField(required=False, label="Object type")
    action = forms.ChoiceField(
        required=False, choices=[("", "Any action"), *[(a, a.capitalize()) for a in AUDIT_ACTIONS]]
    )

    field_order = ["model", "action", "actor", "since", "until"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [("", "Any type"), *audit_models()]

    def filters(self) -> dict:
        data = self.cleaned_data
        return {
            "model": data.get("model") or None,
            "action": data.get("action") or None,
            "actor": data.get("actor") or None,
            **self.range(),
        }


class SecurityFilterForm(_DateRangeForm):
    kind = forms.ChoiceField(required=False, choices=[("", "Any event"), *SecurityEvent.Kind.choices])

    field_order = ["kind", "actor", "since", "until"]

    def filters(self) -> dict:
        data = self.cleaned_data
        return {"kind": data.get("kind") or None, "actor": data.get("actor") or None, **self.range()}
