"""Forms of the records pages. They parse input; services validate and write."""

from datetime import datetime, time
from zoneinfo import ZoneInfo

from django import forms

from apps.accounts.models import Team

from .conditions import OPERATORS
from .models import CustomField, ObjectType, Opportunity, SavedView

NOBODY = "none"  # the owner choice that un-assigns

# Labels of the filters in the filter bar (django-filter's own read "Score is greater than or equal to").
FILTER_LABELS = {
    "q": "Search",
    "stage": "Stage",
    "owner": "Owner",
    "unowned": "Unowned",
    "channel": "Channel",
    "source": "Source",
    "country": "Country",
    "utm_campaign": "UTM campaign",
    "score_min": "Score at least",
    "completeness_below": "Completeness below",
    "captured_from": "Captured from",
    "captured_to": "Captured to",
    "industry": "Industry",
    "region": "Region",
    "employees_min": "Employees from",
    "employees_max": "Employees to",
    "status": "Status",
    "type": "Type",
    "amount_min": "Amount at least",
    "close_after": "Closes from",
    "close_before": "Closes before",
}


def _member_choices(members, empty_label):
    return [("", empty_label)] + [(str(m.pk), m.user.display_name) for m in members]


def prepare_filter_form(form, *, object_type: str, stages, members) -> None:
    """Give the filter bar friendly labels and widgets (the FilterSet is shared with the API)."""
    for name, label in FILTER_LABELS.items():
        if name in form.fields:
            form.fields[name].label = label
    fields = form.fields
    fields["q"].widget = forms.TextInput(attrs={"type": "search", "placeholder": "Name, e-mail, company…"})
    if object_type == ObjectType.ACCOUNT:
        fields["q"].widget.attrs["placeholder"] = "Name or domain…"
    elif object_type == ObjectType.OPPORTUNITY:
        fields["q"].widget.attrs["placeholder"] = "Deal or account name…"
    fields["owner"].widget = forms.Select(choices=_member_choices(members, "Anyone"))
    fields["unowned"].widget = forms.Select(
        choices=[("", "Either"), ("true", "Unowned only"), ("false", "Owned only")]
    )
    if object_type == ObjectType.LEAD:
        fields["stage"].widget = forms.Select(choices=[("", "Any stage")] + [(s.key, s.name) for s in stages])
        fields["completeness_below"].widget = forms.NumberInput(
            attrs={"step": "0.05", "min": "0", "max": "1", "placeholder": "0.6"}
        )
        fields["completeness_below"].help_text = "A share, 0 to 1."
    if object_type == ObjectType.OPPORTUNITY:
        fields["status"].choices = [("", "Any status"), *Opportunity.Status.choices]
        fields["type"].choices = [("", "Any type"), *Opportunity.Type.choices]
    for field in fields.values():
        if isinstance(field, forms.DateField):
            field.widget = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class SavedViewForm(forms.Form):
    name = forms.CharField(max_length=80)
    visibility = forms.ChoiceField(choices=SavedView.Visibility.choices, label="Who sees it")
    team = forms.ModelChoiceField(
        queryset=Team.objects.none(), required=False, help_text="For “My team”: which of your teams."
    )

    def __init__(self, *args, teams=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams if teams is not None else Team.objects.none()


class BulkActionForm(forms.Form):
    """A bulk action on the ticked rows, or on every row matching the list's filters."""

    ACTIONS = {"owner": "Change owner", "stage": "Change stage"}

    action = forms.ChoiceField(choices=[])
    owner = forms.ChoiceField(choices=[], required=False, label="New owner")
    stage = forms.ChoiceField(choices=[], required=False, label="New stage")
    reason = forms.CharField(max_length=500, required=False)
    ids = forms.TypedMultipleChoiceField(coerce=int, required=False)
    all_matching = forms.BooleanField(required=False)
    query = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, object_type: str, members=(), stages=(), **kwargs):
        super().__init__(*args, **kwargs)
        actions = ["owner", "stage"] if object_type == ObjectType.LEAD else ["owner"]
        self.fields["action"].choices = [(a, self.ACTIONS[a]) for a in actions]
        self.fields["owner"].choices = [*_member_choices(members, "Pick an owner"), (NOBODY, "Nobody")]
        self.fields["stage"].choices = [("", "Pick a stage")] + [(s.key, s.name) for s in stages]
        # Any integer is a valid id here; the view looks them up inside the organisation.
        self.fields["ids"].valid_value = lambda value: True

    def clean(self):
        data = super().clean()
        if not data.get("all_matching") and not data.get("ids"):
            raise forms.ValidationError("Tick the rows to change, or “select all matching”.")
        if data.get("action") == "owner" and not data.get("owner"):
            self.add_error("owner", "Pick the new owner.")
        if data.get("action") == "stage":
            if not data.get("stage"):
                self.add_error("stage", "Pick the new stage.")
            if not (data.get("reason") or "").strip():
                self.add_error("reason", "Say why: it is kept with every stage change.")
        return data


class StageChangeForm(forms.Form):
    stage = forms.ChoiceField(choices=[], label="New stage")
    reason = forms.CharField(max_length=500, help_text="Kept with the stage change for everyone to read.")

    def __init__(self, *args, stages=(), current=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stage"].choices = [(s.key, s.name) for s in stages if s.key != current]


class OwnerChangeForm(forms.Form):
    owner = forms.ChoiceField(choices=[], label="New owner")

    def __init__(self, *args, members=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = [*_member_choices(members, "Pick an owner"), (NOBODY, "Nobody")]


# --- Stage definitions ------------------------------------------------------------------

LEAD_RULE_FIELDS = [
    ("email", "E-mail"),
    ("first_name", "First name"),
    ("last_name", "Last name"),
    ("title", "Title"),
    ("phone", "Phone"),
    ("company", "Company"),
    ("country", "Country"),
    ("source", "Source"),
    ("channel", "Channel"),
    ("utm_source", "UTM source"),
    ("utm_medium", "UTM medium"),
    ("utm_campaign", "UTM campaign"),
    ("utm_term", "UTM term"),
    ("utm_content", "UTM content"),
    ("score", "Score"),
    ("completeness", "Completeness (0 to 1)"),
    ("owner_id", "Owner (member id)"),
    ("account_id", "Account (id)"),
    ("stage", "Stage (key)"),
]
LIST_OPERATORS = {"in", "not_in"}
VALUELESS_OPERATORS = {"is_empty", "is_not_empty"}


def rule_field_choices(custom_fields) -> list[tuple[str, str]]:
    return LEAD_RULE_FIELDS + [(f"custom.{d.key}", f"{d.label} (custom)") for d in custom_fields]


class StageEditForm(forms.Form):
    name = forms.CharField(max_length=80)
    order = forms.IntegerField(min_value=1, help_text="Stages are listed and compared in this order.")
    entry_criteria = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Entry criterion",
        help_text="Written, so everyone applies the same definition.",
    )
    owner_team = forms.ModelChoiceField(queryset=Team.objects.none(), required=False, empty_label="No team")
    effective_date = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        label="Effective from",
        help_text="The day the new definition applies (organisation time zone). Empty: now.",
    )
    note = forms.CharField(
        max_length=300, label="Change note", help_text="Why it changes; shown in the version history."
    )

    def __init__(self, *args, teams=None, time_zone="UTC", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner_team"].queryset = teams if teams is not None else Team.objects.none()
        self.time_zone = time_zone

    def effective_from(self) -> datetime | None:
        day = self.cleaned_data.get("effective_date")
        return datetime.combine(day, time.min, tzinfo=ZoneInfo(self.time_zone)) if day else None

    def stage_fields(self) -> dict:
        return {key: self.cleaned_data[key] for key in ("name", "order", "entry_criteria", "owner_team")}


class ConditionForm(forms.Form):
    """One row of a machine rule: field, operator, value (comma-separated for "is one of")."""

    field = forms.ChoiceField(choices=[], required=False)
    op = forms.ChoiceField(choices=[("", "—"), *OPERATORS.items()], required=False, label="Operator")
    value = forms.CharField(required=False, max_length=500)

    def __init__(self, *args, field_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["field"].choices = [("", "—"), *field_choices]

    def clean(self):
        data = super().clean()
        field, op, value = data.get("field"), data.get("op"), (data.get("value") or "").strip()
        if not field and not op and not value:
            return data  # an empty row: ignored
        if not field:
            self.add_error("field", "Pick a field.")
        if not op:
            self.add_error("op", "Pick an operator.")
        elif op not in VALUELESS_OPERATORS and not value:
            self.add_error("value", "Give a value.")
        return data

    def condition(self) -> dict | None:
        data = self.cleaned_data
        if not data or not data.get("field") or data.get("DELETE"):
            return None
        condition = {"field": data["field"], "op": data["op"]}
        value = (data.get("value") or "").strip()
        if data["op"] in LIST_OPERATORS:
            condition["value"] = [v.strip() for v in value.split(",") if v.strip()]
        elif data["op"] not in VALUELESS_OPERATORS:
            condition["value"] = value
        return condition


ConditionFormSet = forms.formset_factory(ConditionForm, extra=1, can_delete=True, max_num=20)


def condition_initial(rule) -> list[dict]:
    rows = []
    for condition in rule or []:
        value = condition.get("value", "")
        rows.append(
            {
                "field": condition.get("field", ""),
                "op": condition.get("op", ""),
                "value": ", ".join(map(str, value)) if isinstance(value, list) else value,
            }
        )
    return rows


def formset_rule(formset) -> list[dict]:
    return [c for c in (form.condition() for form in formset.forms) if c]


class CustomFieldForm(forms.Form):
    object_type = forms.ChoiceField(choices=ObjectType.choices, label="On")
    label = forms.CharField(max_length=120)
    key = forms.CharField(
        max_length=60,
        help_text="Lower-case letters, digits and underscores; used as custom.<key> in the API and rules.",
    )
    type = forms.ChoiceField(choices=CustomField.Type.choices)
    choices = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="For choice fields: one choice per line.",
    )
    required = forms.BooleanField(required=False, help_text="Records cannot be created without it.")
