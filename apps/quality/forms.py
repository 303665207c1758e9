"""Forms for the data-quality pages. They parse input; services validate and write."""

from django import forms

from apps.records.models import CustomField, ObjectType

from . import completeness as cq
from .survivorship import MERGED, SURVIVOR

A, B = "a", "b"


class ThresholdForm(forms.Form):
    threshold = forms.IntegerField(
        min_value=0,
        max_value=100,
        required=False,
        label="Complete at",
        help_text="Percent of the weighted fields, with every required field present.",
        widget=forms.NumberInput(attrs={"step": 5}),
    )

    def value(self, default: float) -> float:
        if self.is_valid() and self.cleaned_data.get("threshold") is not None:
            return self.cleaned_data["threshold"] / 100
        return default


class MergeForm(forms.Form):
    """Which lead survives, and for each differing field whose value it keeps.

    Choices are made by side (A is the older lead, B the newer) so that what the
    reviewer ticks is exactly what is kept, whichever lead survives.
    """

    survivor = forms.ChoiceField(
        choices=[(A, "Keep A"), (B, "Keep B")], initial=A, widget=forms.RadioSelect, label="Record to keep"
    )

    def __init__(self, *args, rows, **kwargs):
        super().__init__(*args, **kwargs)
        self.rows = [row for row in rows if row.differs]
        for row in self.rows:
            # Not required: a field left out keeps what the survivorship rules choose.
            self.fields[self.field_name(row.field)] = forms.ChoiceField(
                choices=[(A, "A"), (B, "B")],
                initial=row.default,
                required=False,
                widget=forms.RadioSelect,
                label=row.label,
            )
        # The page draws its own radio buttons in the comparison table; tell each row which is ticked.
        for row in self.rows:
            row.checked = self[self.field_name(row.field)].value()

    @staticmethod
    def field_name(field: str) -> str:
        return f"f_{field}"

    def merge_arguments(self, a, b) -> dict:
        """survivor, merged and field_choices for apps.quality.services.lead_merge."""
        survivor_side = self.cleaned_data["survivor"]
        choices = {}
        for row in self.rows:
            side = self.cleaned_data.get(self.field_name(row.field)) or row.default
            choices[row.field] = SURVIVOR if side == survivor_side else MERGED
        survivor, merged = (a, b) if survivor_side == A else (b, a)
        return {"survivor": survivor, "merged": merged, "field_choices": choices}


class SourceMappingForm(forms.Form):
    raw_value = forms.CharField(
        max_length=255, label="Raw value", help_text="A source, utm_source or utm_medium value, any case."
    )
    channel = forms.CharField(
        max_length=60,
        help_text="The canonical channel, e.g. Paid Social.",
        widget=forms.TextInput(attrs={"list": "known-channels"}),
    )
    source_name = forms.CharField(
        max_length=120, required=False, label="Source", help_text="Optional, e.g. LinkedIn."
    )


class CompletenessRuleForm(forms.Form):
    """Add a field to a record type's score, or change the weight of one that counts already."""

    object_type = forms.ChoiceField(choices=ObjectType.choices, widget=forms.HiddenInput)
    field = forms.ChoiceField(choices=[])
    weight = forms.IntegerField(min_value=1, max_value=100, initial=1)
    required = forms.BooleanField(
        required=False, help_text="Records missing it are incomplete whatever their score."
    )

    def __init__(self, *args, object_type: str, custom_fields=(), **kwargs):
        """`custom_fields`: (key, label) of the record type's custom fields."""
        super().__init__(*args, **kwargs)
        self.fields["object_type"].initial = object_type
        standard = [(name, cq.field_label(name)) for name in cq.standard_fields(object_type)]
        custom = [(f"{cq.CUSTOM_PREFIX}{key}", f"{label} (custom)") for key, label in custom_fields]
        self.fields["field"].choices = [("Fields", standard)] + (
            [("Custom fields", custom)] if custom else []
        )


def custom_fields_by_type(*, org) -> dict[str, list[tuple[str, str]]]:
    """(key, label) of every custom field, by record type, in one query."""
    grouped: dict[str, list[tuple[str, str]]] = {t: [] for t in ObjectType.values}
    for object_type, key, label in (
        CustomField.objects.for_org(org).order_by("label").values_list("object_type", "key", "label")
    ):
        grouped.setdefault(object_type, []).append((key, label))
    return grouped
