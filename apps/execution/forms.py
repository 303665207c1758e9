"""Forms for the routing and SLA set-up pages. They parse what people type into
the shapes the services take (hours JSON, rule dicts, ladders); the services
validate and write."""

import re
import zoneinfo
from datetime import datetime
from zoneinfo import ZoneInfo

from django import forms
from django.utils import timezone

from apps.accounts.forms import MembershipChoiceField
from apps.accounts.models import Membership, Team
from apps.execution import calendars
from apps.execution.models import BusinessCalendar, RoutingPool
from apps.execution.models.sla import Clock, Step
from apps.execution.routing import types
from apps.execution.services import policies
from apps.execution.services.sla import LADDER_ACTIONS
from apps.records.forms import ConditionFormSet, condition_initial, formset_rule, rule_field_choices

TIME_ZONES = sorted(zoneinfo.available_timezones())
DAY_NAMES = dict(zip(calendars.WEEKDAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
                                          "Saturday", "Sunday"), strict=True))  # fmt: skip

# Facts the routing layer adds to a lead's own fields (apps.execution.services.facts.lead_facts).
ROUTING_FACTS = [
    ("account.has_owner", "Matched account has an owner (true / false)"),
    ("account.industry", "Matched account: industry"),
    ("account.employees", "Matched account: employees"),
    ("region", "Region (of the matched account)"),
    ("local_hour", "Hour of day now (organisation time, 0 to 23)"),
    ("weekday", "Day of the week now (mon … sun)"),
    ("segments", "Segments (keys: “contains” one, “is one of” several)"),
]

# What account and opportunity rules see (apps.execution.services.ownership.account_facts and
# opportunity_facts): the record's own fields, its account's for an opportunity, and the clock.
ACCOUNT_RULE_FIELDS = [
    ("name", "Name"),
    ("domain", "Domain"),
    ("industry", "Industry"),
    ("employees", "Employees"),
    ("annual_revenue", "Annual revenue"),
    ("country", "Country"),
    ("region", "Region"),
]
OPPORTUNITY_RULE_FIELDS = [
    ("name", "Name"),
    ("amount", "Amount"),
    ("type", "Type (new_business, expansion, renewal)"),
    ("stage", "Stage (as the CRM names it)"),
    ("source", "Source"),
    ("currency", "Currency"),
]
OPPORTUNITY_ACCOUNT_FACTS = [
    ("account.industry", "Account: industry"),
    ("account.employees", "Account: employees"),
    ("account.region", "Account: region"),
    ("account.country", "Account: country"),
    ("account.annual_revenue", "Account: annual revenue"),
    ("account.has_owner", "Account has an owner (true / false)"),
    ("country", "Country (of the account)"),
    ("region", "Region (of the account)"),
]
CLOCK_FACTS = [
    ("local_hour", "Hour of day now (organisation time, 0 to 23)"),
    ("weekday", "Day of the week now (mon … sun)"),
]
ACCOUNT_ROUTING_FACTS = [
    ("segments", "Segments (keys: “contains” one, “is one of” several)"),
    *CLOCK_FACTS,
]
OPPORTUNITY_ROUTING_FACTS = [
    ("segments", "Segments of the account (keys: “contains” one, “is one of” several)"),
    *CLOCK_FACTS,
]


def routing_field_choices(custom_fields, object_type: str = "lead") -> list[tuple[str, list]]:
    """Grouped choices for a routing condition on `object_type` (leads unless told): the record's
    own fields, an opportunity's account, custom fields of that object, routing facts."""
    custom = [(f"custom.{d.key}", f"{d.label} (custom)") for d in custom_fields]
    custom_group = [("Custom fields", custom)] if custom else []
    if object_type == "account":
        return [("Account", ACCOUNT_RULE_FIELDS), *custom_group, ("Routing", ACCOUNT_ROUTING_FACTS)]
    if object_type == "opportunity":
        return [
            ("Opportunity", OPPORTUNITY_RULE_FIELDS),
            ("Its account", OPPORTUNITY_ACCOUNT_FACTS),
            *custom_group,
            ("Routing", OPPORTUNITY_ROUTING_FACTS),
        ]
    return [("Lead", rule_field_choices(())), *custom_group, ("Routing", ROUTING_FACTS)]


def conditions_formset(data=None, *, prefix: str, field_choices, conditions=None):
    """A formset of condition rows (field / operator / value), one blank row to add to."""
    initial = None if data is not None else condition_initial(conditions)
    return ConditionFormSet(
        data, prefix=prefix, initial=initial, form_kwargs={"field_choices": field_choices}
    )


def formset_conditions(formset) -> list[dict]:
    return formset_rule(formset)


# --- Working hours ----------------------------------------------------------------------------------

_SPAN = re.compile(r"^\s*(\d{1,2}:\d{2})\s*[-\u2013\u2014]\s*(\d{1,2}:\d{2})\s*$")


ROUND_THE_CLOCK = {day: [["00:00", "24:00"]] for day in calendars.WEEKDAYS}


def hours_text(intervals) -> str:
    return ", ".join(f"{start}-{end}" for start, end in intervals or ())


class HoursMixin:
    """Seven text inputs, one per weekday: "09:00-12:00, 13:00-17:30"; empty means closed."""

    def add_hour_fields(self, hours=None):
        for day in calendars.WEEKDAYS:
            self.fields[f"hours_{day}"] = forms.CharField(
                required=False,
                label=DAY_NAMES[day],
                max_length=200,
                widget=forms.TextInput(attrs={"placeholder": "closed", "class": "routing-hours"}),
            )
            if hours is not None:
                self.initial[f"hours_{day}"] = hours_text(hours.get(day))

    def clean_hour_fields(self) -> None:
        hours = {}
        for day in calendars.WEEKDAYS:
            text = (self.cleaned_data.get(f"hours_{day}") or "").strip()
            spans = []
            for part in filter(None, (p.strip() for p in text.split(","))):
                if part.lower() == "closed":
                    continue
                match = _SPAN.match(part)
                if match is None:
                    self.add_error(f"hours_{day}", f"Write {part!r} as start-end, e.g. 09:00-17:00.")
                    break
                spans.append([match[1].zfill(5), match[2].zfill(5)])
            hours[day] = spans
        self.cleaned_hours = hours

    @property
    def hour_fields(self):
        return [self[f"hours_{day}"] for day in calendars.WEEKDAYS]


# Where a service's field names land on these forms.
HOUR_ALIASES = {f"hours.{day}": f"hours_{day}" for day in calendars.WEEKDAYS}


# --- Routing rules ----------------------------------------------------------------------------------


# How the actions read for what they mean when an account or an opportunity is routed.
_ACTION_LABELS = {
    "account": {
        types.ASSIGN_ACCOUNT_OWNER: "Assign to the account's owner (a new one has none: its queue decides)",
        types.ASSIGN_STICKY: "Assign to whoever owns the account's leads",
        types.HOLD_FOR_DATA: "Hold until the account's data is complete",
    },
    "opportunity": {
        types.ASSIGN_ACCOUNT_OWNER: "Assign to the owner of the opportunity's account",
        types.ASSIGN_STICKY: "Assign to the owner of the account's previous opportunity",
    },
}


def action_labels(object_type: str = "lead") -> dict[str, str]:
    return {**types.ACTIONS, **_ACTION_LABELS.get(object_type, {})}


class RuleForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="Says who the rule is for, e.g. EMEA enterprise.")
    action_type = forms.ChoiceField(choices=list(types.ACTIONS.items()), label="Action")
    person = MembershipChoiceField(queryset=Membership.objects.none(), required=False, empty_label="—")
    pool = forms.ModelChoiceField(
        queryset=RoutingPool.objects.none(),
        required=False,
        empty_label="—",
        label="Queue",
        help_text="For a queue rule; for account owner or previous owner, "
        "the queue to use when they cannot take it.",
    )
    min_completeness = forms.IntegerField(
        min_value=1,
        max_value=100,
        required=False,
        label="Hold below completeness (%)",
        help_text="For a hold rule: leads less complete than this wait until their data is completed.",
    )

    ALIASES = {
        "action.type": "action_type",
        "action.person": "person",
        "action.pool": "pool",
        "action.min_completeness": "min_completeness",
        "name": "name",
    }

    def __init__(self, *args, org, object_type: str = "lead", **kwargs):
        super().__init__(*args, **kwargs)
        self.object_type = object_type
        self.fields["person"].queryset = (
            Membership.objects.for_org(org)
            .filter(is_active=True)
            .select_related("user")
            .order_by("user__email")
        )
        self.fields["pool"].queryset = RoutingPool.objects.for_org(org).order_by("name")
        labels = action_labels(object_type)
        if object_type == "opportunity":
            # Not offered, and refused with a field error if posted anyway (see clean).
            self.fields["action_type"].widget.choices = [
                (key, label) for key, label in labels.items() if key != types.HOLD_FOR_DATA
            ]
            del self.fields["min_completeness"]
        else:
            self.fields["action_type"].widget.choices = list(labels.items())
        if object_type == "account":
            self.fields[
                "min_completeness"
            ].help_text = (
                "For a hold rule: accounts less complete than this wait until their data is completed."
            )

    @classmethod
    def initial_for(cls, rule: dict) -> dict:
        action = rule.get("action", {})
        threshold = action.get("min_completeness")
        return {
            "name": rule.get("name", ""),
            "action_type": action.get("type"),
            "person": action.get("person"),
            "pool": action.get("pool"),
            "min_completeness": round(threshold * 100) if threshold is not None else None,
        }

    def clean(self):
        data = super().clean()
        if data.get("action_type") == types.HOLD_FOR_DATA:
            if self.object_type == "opportunity":
                self.add_error("action_type", policies.NO_COMPLETENESS)
            elif data.get("min_completeness") is None:
                noun = "accounts" if self.object_type == "account" else "leads"
                self.add_error("min_completeness", f"Give the completeness (%) below which {noun} are held.")
        return data

    def rule(self, conditions: list[dict]) -> dict:
        data = self.cleaned_data
        action = {"type": data["action_type"]}
        if data.get("person"):
            action["person"] = data["person"].pk
        if data.get("pool"):
            action["pool"] = data["pool"].pk
        if data.get("min_completeness") is not None:
            action["min_completeness"] = data["min_completeness"] / 100
        return {"name": data["name"].strip(), "conditions": conditions, "action": action}


class FallbackForm(forms.Form):
    pool = forms.ModelChoiceField(
        queryset=RoutingPool.objects.none(),
        required=False,
        empty_label="No fallback queue",
        label="Fallback queue",
    )

    def __init__(self, *args, org, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["pool"].queryset = RoutingPool.objects.for_org(org).order_by("name")


class PublishForm(forms.Form):
    note = forms.CharField(
        max_length=300, label="Change note", help_text="Why the rules change; shown in the version history."
    )
    # Which state of the draft the diff on the page showed.
    reviewed = forms.CharField(widget=forms.HiddenInput, required=False)

    @staticmethod
    def token(draft) -> str:
        return f"{draft.pk}:{draft.updated_at.isoformat()}"


class SimulatorForm(forms.Form):
    DRAFT, PUBLISHED = "draft", "published"

    version = forms.ChoiceField(
        choices=[(DRAFT, "The draft"), (PUBLISHED, "The published rules")], initial=DRAFT, label="Run"
    )
    lead = forms.CharField(
        required=False, max_length=254, label="One lead", help_text="Its id or e-mail address."
    )
    start = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), label="Or leads captured from"
    )
    end = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), label="to (inclusive)"
    )

    def clean(self):
        data = super().clean()
        lead, start, end = (data.get("lead") or "").strip(), data.get("start"), data.get("end")
        data["lead"] = lead
        if not lead and not (start and end):
            if start or end:
                self.add_error("end" if start else "start", "Give both ends of the period.")
            else:
                raise forms.ValidationError("Give a lead, or the first and last day of a period.")
        if start and end and end < start:
            self.add_error("end", "The period ends before it starts.")
        return data


# --- Pools -------------------------------------------------------------------------------------------


def _territory_list(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,;\n]", text or "") if part.strip()]


class PoolForm(forms.Form):
    name = forms.CharField(max_length=120)
    strategy = forms.ChoiceField(choices=list(types.STRATEGIES.items()), initial=types.ROUND_ROBIN)
    team = forms.ModelChoiceField(queryset=Team.objects.none(), required=False, empty_label="No team")
    description = forms.CharField(max_length=300, required=False)

    def __init__(self, *args, org, read_only: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = Team.objects.for_org(org).order_by("name")
        if read_only:
            for field in self.fields.values():
                field.disabled = True


class PoolMemberAddForm(forms.Form):
    membership = MembershipChoiceField(queryset=Membership.objects.none(), label="Person")
    weight = forms.IntegerField(min_value=1, max_value=100, initial=1, help_text="Weighted round robin only.")
    territories = forms.CharField(
        required=False,
        max_length=500,
        help_text="Country codes or regions, separated by commas. Territory only.",
    )

    def __init__(self, *args, org, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["membership"].queryset = (
            Membership.objects.for_org(org)
            .filter(is_active=True)
            .select_related("user")
            .order_by("user__email")
        )

    def clean_territories(self):
        return _territory_list(self.cleaned_data["territories"])


class PoolMemberForm(forms.Form):
    member = forms.IntegerField(widget=forms.HiddenInput)
    weight = forms.IntegerField(min_value=1, max_value=100)
    territories = forms.CharField(required=False, max_length=500)
    is_active = forms.BooleanField(required=False, label="In the rotation")

    def clean_territories(self):
        return _territory_list(self.cleaned_data["territories"])


# --- Reps --------------------------------------------------------------------------------------------


def _zone_choices(blank_label: str | None):
    return ([("", blank_label)] if blank_label else []) + [(tz, tz) for tz in TIME_ZONES]


class RepProfileForm(HoursMixin, forms.Form):
    # Fields a rep may change on their own profile; availability and caps are their manager's call.
    SELF_SERVICE = {"time_zone"} | {f"hours_{day}" for day in calendars.WEEKDAYS}

    available = forms.BooleanField(
        required=False, label="Available for new leads", help_text="Off: routing skips them."
    )
    time_zone = forms.ChoiceField(choices=(), required=False)
    daily_cap = forms.IntegerField(
        min_value=0, required=False, label="Daily cap", help_text="Most new leads a day; empty for no cap."
    )
    open_cap = forms.IntegerField(
        min_value=0, required=False, label="Open cap", help_text="Most open leads at once; empty for no cap."
    )

    ALIASES = HOUR_ALIASES

    def __init__(self, *args, hours=None, default_zone: str = "UTC", editable=None, **kwargs):
        """`editable`: the names of the fields this person may change (None: all)."""
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = _zone_choices(f"Default ({default_zone})")
        self.add_hour_fields(hours)
        for name, field in self.fields.items():
            if editable is not None and name not in editable:
                field.disabled = True

    def clean(self):
        data = super().clean()
        self.clean_hour_fields()
        return data

    def profile_fields(self) -> dict:
        """The changes to save: only fields this person may edit."""
        fields = {
            name: self.cleaned_data[name]
            for name in ("available", "time_zone", "daily_cap", "open_cap")
            if not self.fields[name].disabled
        }
        if not self.fields["hours_mon"].disabled:
            fields["hours"] = self.cleaned_hours
        return fields


class AbsenceForm(forms.Form):
    starts_at = forms.DateTimeField(
        label="Away from",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    ends_at = forms.DateTimeField(
        label="Back at", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    )
    note = forms.CharField(max_length=200, required=False, help_text="Optional, e.g. holiday.")

    def __init__(self, *args, time_zone: str = "UTC", **kwargs):
        super().__init__(*args, **kwargs)
        self.time_zone = time_zone
        for name in ("starts_at", "ends_at"):
            self.fields[name].help_text = f"In {time_zone}."

    def _local(self, value: datetime | None) -> datetime | None:
        # The inputs are wall-clock times of the rep; the field read them in the server's zone.
        if value is None:
            return None
        return timezone.make_naive(value).replace(tzinfo=ZoneInfo(self.time_zone))

    def clean_starts_at(self):
        return self._local(self.cleaned_data["starts_at"])

    def clean_ends_at(self):
        return self._local(self.cleaned_data["ends_at"])


# --- Calendars ---------------------------------------------------------------------------------------


class CalendarForm(HoursMixin, forms.Form):
    name = forms.CharField(max_length=120)
    time_zone = forms.ChoiceField(choices=(), initial="UTC")
    team = forms.ModelChoiceField(
        queryset=Team.objects.none(),
        required=False,
        empty_label="No team",
        help_text="The team's members get this calendar's holidays off.",
    )
    holidays = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "placeholder": "2026-12-25 Christmas Day"}),
        help_text="One a line: the date (YYYY-MM-DD), then its name.",
    )

    ALIASES = HOUR_ALIASES

    def __init__(self, *args, org, hours=None, read_only: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = _zone_choices(None)
        self.fields["team"].queryset = Team.objects.for_org(org).order_by("name")
        self.add_hour_fields(calendars.DEFAULT_HOURS if hours is None else hours)
        if read_only:
            for field in self.fields.values():
                field.disabled = True

    @staticmethod
    def holidays_text(holidays) -> str:
        return "\n".join(f"{h['date']} {h.get('name', '')}".strip() for h in holidays or ())

    def clean_holidays(self):
        holidays = []
        for number, line in enumerate((self.cleaned_data["holidays"] or "").splitlines(), start=1):
            line = line.strip()
            if not line:
                continue
            day, _, name = line.partition(" ")
            try:
                datetime.strptime(day, "%Y-%m-%d")
            except ValueError:
                raise forms.ValidationError(
                    f"Line {number}: start with the date as YYYY-MM-DD, e.g. 2026-12-25 Christmas Day."
                ) from None
            holidays.append({"date": day, "name": name.strip()})
        return holidays

    def clean(self):
        data = super().clean()
        self.clean_hour_fields()
        return data

    def calendar_fields(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "time_zone": data["time_zone"],
            "team": data["team"],
            "holidays": data["holidays"],
            "hours": self.cleaned_hours,
        }


# --- Reject reasons ----------------------------------------------------------------------------------


class RejectReasonForm(forms.Form):
    label = forms.CharField(max_length=120, label="Reason", help_text="As reps will read it when rejecting.")


class RejectReasonEditForm(forms.Form):
    label = forms.CharField(max_length=120, required=False)
    is_active = forms.TypedChoiceField(
        choices=[("", "—"), ("1", "Active"), ("0", "Inactive")],
        coerce=lambda value: value == "1",
        empty_value=None,
        required=False,
    )


# --- SLA policies ------------------------------------------------------------------------------------


class SlaPolicyForm(forms.Form):
    name = forms.CharField(max_length=120)
    clock = forms.ChoiceField(
        choices=Clock.choices,
        initial=Clock.ACCEPT,
        help_text="Accept: from the offer until the rep accepts. "
        "First touch: until the first call or e-mail.",
    )
    target_minutes = forms.IntegerField(
        min_value=1, label="Target (minutes)", help_text="Business minutes on the calendar below."
    )
    calendar = forms.ModelChoiceField(
        queryset=BusinessCalendar.objects.none(),
        required=False,
        empty_label="Around the clock",
        help_text="Whose working hours the clock counts.",
    )
    stage = forms.ChoiceField(choices=(), required=False, help_text="Only leads in this stage; empty: any.")
    team = forms.ModelChoiceField(
        queryset=Team.objects.none(),
        required=False,
        empty_label="Any team",
        help_text="The team of the queue.",
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active")

    def __init__(self, *args, org, stages=(), read_only: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["calendar"].queryset = BusinessCalendar.objects.for_org(org).order_by("name")
        self.fields["team"].queryset = Team.objects.for_org(org).order_by("name")
        self.fields["stage"].choices = [("", "Any stage"), *((s.key, s.name) for s in stages)]
        if read_only:
            for field in self.fields.values():
                field.disabled = True


class EscalationStepForm(forms.Form):
    at_minutes = forms.IntegerField(min_value=0, required=False, label="At (minutes)")
    action = forms.ChoiceField(
        choices=[("", "—"), *((step.value, step.label) for step in Step if step in LADDER_ACTIONS)],
        required=False,
    )
    mark_unavailable = forms.BooleanField(required=False, label="Mark the rep unavailable")

    def clean(self):
        data = super().clean()
        if data.get("at_minutes") is None and not data.get("action"):
            return data  # an empty row
        if data.get("at_minutes") is None:
            self.add_error("at_minutes", "Give the minute of this step.")
        if not data.get("action"):
            self.add_error("action", "Pick what happens.")
        return data

    def step(self) -> dict | None:
        data = self.cleaned_data
        if not data or data.get("DELETE") or data.get("at_minutes") is None or not data.get("action"):
            return None
        return {
            "at_minutes": data["at_minutes"],
            "action": data["action"],
            "mark_unavailable": bool(data.get("mark_unavailable")),
        }


EscalationFormSet = forms.formset_factory(EscalationStepForm, extra=1, can_delete=True, max_num=10)


def escalation_formset(data=None, *, steps=None):
    return EscalationFormSet(data, prefix="step", initial=None if data is not None else list(steps or []))


def formset_steps(formset) -> list[dict]:
    return [s for s in (form.step() for form in formset.forms) if s]
