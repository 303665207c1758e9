from django import forms
from django.template.defaultfilters import filesizeformat

from .models import MATCH_KEYS, Mode, ObjectType
from .reading import column_label


class UploadForm(forms.Form):
    object_type = forms.ChoiceField(
        label="The file holds", choices=ObjectType.choices, initial=ObjectType.LEAD, widget=forms.RadioSelect
    )
    # Empty files reach the service, whose message says what to do about them.
    file = forms.FileField(label="CSV file", allow_empty_file=True)

    def __init__(self, *args, max_bytes: int, **kwargs):
        super().__init__(*args, **kwargs)
        limit = filesizeformat(max_bytes)
        self.fields["file"].help_text = (
            f"Up to {limit}. Exports from HubSpot, Salesforce or a spreadsheet: UTF-8, UTF-16 or "
            "Windows-1252, separated by commas, semicolons, tabs or pipes, "
            "with the column names in the first row."
        )
        self.fields["file"].widget.attrs.update(
            {
                "accept": ".csv,.txt,.tsv,text/csv,text/plain",
                "data-max-bytes": str(max_bytes),
                "data-max-label": limit,
            }
        )


class MappingForm(forms.Form):
    """One choice per column of the file: the field it feeds, or nothing."""

    def __init__(self, *args, headers: list[str], mapping: list[str], fields: dict, samples, **kwargs):
        super().__init__(*args, **kwargs)
        standard = [(f.name, f.label) for f in fields.values() if f.kind != "custom"]
        custom = [(f.name, f.label) for f in fields.values() if f.kind == "custom"]
        choices = [("", "Don't import"), ("Fields", standard)]
        if custom:
            choices.append(("Custom fields", custom))
        self.columns = []
        for index in range(len(headers)):
            name = f"column_{index}"
            label = column_label(headers, index)
            self.fields[name] = forms.ChoiceField(
                label=label,
                choices=choices,
                required=False,
                initial=mapping[index] if index < len(mapping) else "",
            )
            examples = [row[index] for row in samples if index < len(row) and row[index].strip()][:3]
            self.columns.append({"name": name, "label": label, "examples": examples})

    def bound_columns(self):
        for column in self.columns:
            yield {**column, "field": self[column["name"]]}

    def mapping(self) -> list[str]:
        return [self.cleaned_data.get(f"column_{i}") or "" for i in range(len(self.columns))]


class OptionsForm(forms.Form):
    mode = forms.ChoiceField(label="What to do", choices=Mode.choices, widget=forms.RadioSelect)
    match_on = forms.ChoiceField(label="Match existing records by")

    def __init__(self, *args, object_type: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["match_on"].choices = MATCH_KEYS[object_type]
        self.fields["match_on"].help_text = (
            "How a row finds the record it updates. In create mode, a row whose key already exists is "
            "reported instead of creating a duplicate."
        )
