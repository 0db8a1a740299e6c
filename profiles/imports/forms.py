"""Forms of the import pages: the upload, and the mapping (one choice per column)."""

from __future__ import annotations

from django import forms

from profiles.imports.mapping import SKIP
from profiles.imports.reading import DELIMITERS
from profiles.models import ProfileImport

DELIMITER_CHOICES = [("", "Detect automatically")] + [
    (d, f"{name.capitalize()} ({'tab' if d == chr(9) else d})") for d, name in DELIMITERS.items()
]


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file", help_text="UTF-8 text with a header line of column names.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,text/csv"}),
    )
    delimiter = forms.ChoiceField(choices=DELIMITER_CHOICES, required=False)


class ImportDelimiterForm(forms.Form):
    delimiter = forms.ChoiceField(choices=DELIMITER_CHOICES[1:], label="Read the file with")


class ImportMappingForm(forms.Form):
    """`col_<n>` → target of the n-th column; the header is the label."""

    upsert_key = forms.ChoiceField(
        choices=ProfileImport.UpsertKey.choices, label="Match profiles by",
        help_text="Rows whose key exists update that profile; the others create one.",
    )

    def __init__(self, *args, headers: list[str], choices: dict, initial_mapping: dict,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.headers = headers
        for index, header in enumerate(headers):
            self.fields[f"col_{index}"] = forms.ChoiceField(
                label=header, choices=choices[header], required=False,
                initial=initial_mapping.get(header, SKIP),
            )

    def column_fields(self):
        return [self[f"col_{index}"] for index in range(len(self.headers))]

    def mapping(self) -> dict[str, str]:
        return {header: self.cleaned_data.get(f"col_{index}") or SKIP
                for index, header in enumerate(self.headers)}

    def add_mapping_errors(self, errors: dict[str, str]) -> None:
        position = {header: index for index, header in enumerate(self.headers)}
        for name, message in errors.items():
            if name in position:
                self.add_error(f"col_{position[name]}", message)
            elif name == "upsert_key":
                self.add_error("upsert_key", message)
            else:
                self.add_error(None, message)
