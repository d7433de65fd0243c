"""The export dialog's form: what a person may choose, checked before a job is made."""

from __future__ import annotations

from django import forms

from data_browser import datatypes as T
from data_browser.access import Anonymization

from .models import Format, Level

# A Data Viewer tab's filters travel with the dialog as ``filter-<API parameter name>``.
FILTER_PREFIX = "filter-"
FORMAT_HELP = {
    Format.CSV: "One file per data type (several types, or a filtered tab, come as a ZIP "
    "with metadata.json).",
    Format.JSON: "The API's data + metadata envelope (several types, or a filtered tab: a ZIP "
    "with metadata.json).",
    Format.ZIP: "A folder per room, metadata.json and a data dictionary.",
}


class ExportForm(forms.Form):
    """Choices are the full sets so that a forbidden one is refused by the export service
    (403) rather than hidden as a form error; the dialog only offers the allowed ones."""

    level = forms.ChoiceField(choices=Level.choices, widget=forms.HiddenInput)
    experiment = forms.CharField(max_length=64, widget=forms.HiddenInput)
    room = forms.CharField(max_length=64, required=False, widget=forms.HiddenInput)
    participant = forms.CharField(max_length=128, required=False, widget=forms.HiddenInput)
    data_types = forms.MultipleChoiceField(
        choices=[(dt.key, dt.label) for dt in T.DATA_TYPES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Data types",
    )
    fmt = forms.ChoiceField(
        choices=Format.choices, initial=Format.ZIP, widget=forms.RadioSelect, label="Format"
    )
    anonymization = forms.ChoiceField(
        choices=Anonymization.choices, widget=forms.RadioSelect, label="Identifiers"
    )
    include_media = forms.BooleanField(
        required=False,
        label="Include recording media files",
        help_text="ZIP with identifiers kept only; can make the download large.",
    )
    csv_bom = forms.BooleanField(
        required=False,
        label="CSV for Excel (UTF-8 with BOM)",
        help_text="Starts every CSV file with a byte-order mark, so that Excel reads accents "
        "and non-Latin text correctly. Leave it off for R, Python and most other tools.",
    )

    def __init__(self, *args, allowed_modes: list[str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.allowed_modes = allowed_modes or []
        self.fields["anonymization"].error_messages["invalid_choice"] = (
            "Unknown anonymization %(value)s; choose keep, remove or aggregate."
        )
        self.fields["fmt"].error_messages["invalid_choice"] = (
            "Unknown format %(value)s; choose csv, json or zip."
        )

    def offered_modes(self) -> list[tuple[str, str]]:
        return [(v, label) for v, label in Anonymization.choices if v in self.allowed_modes]

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "level": data["level"],
            "experiment_id": data["experiment"],
            "room_id": data["room"] or None,
            "participant_id": data["participant"] or None,
            "data_types": data["data_types"] or None,
            "fmt": data["fmt"],
            "anonymization": data["anonymization"],
            "include_media": data["include_media"],
            "csv_bom": data["csv_bom"],
            "filters": filters_in(self.data),
        }


def filters_in(data) -> dict[str, str]:
    """The tab's filters carried by the dialog's query or form (API parameter names)."""
    return {
        key.removeprefix(FILTER_PREFIX): value
        for key, value in data.items()
        if key.startswith(FILTER_PREFIX)
    }
