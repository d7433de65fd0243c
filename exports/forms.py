"""The export dialog's form: what a person may choose, checked before a job is made."""

from __future__ import annotations

from django import forms
from django.conf import settings

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
MODE_HELP = {
    Anonymization.KEEP: "Participant ids, names, e-mail and IP addresses as recorded: the "
    "file is personal data.",
    Anonymization.REMOVE: "Participants, rooms and record ids by codes (the same in every "
    "de-identified file, page and API answer, so they join); names, e-mail and IP addresses "
    "removed, also from ids, labels, free text and payloads.",
    Anonymization.AGGREGATE: "Counts and summary statistics (per event type, component, "
    "state…), no rows; a group of fewer than {min_group} participants is left out.",
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

    def format_options(self) -> list[tuple[str, str, str]]:
        """Each format with what its file holds."""
        return [(v, label, FORMAT_HELP[v]) for v, label in Format.choices]

    def offered_modes(self) -> list[tuple[str, str, str]]:
        """The identifier modes the reader's export right allows, with what each does."""
        min_group = settings.AGGREGATE_MIN_GROUP
        return [
            (v, label, MODE_HELP[v].format(min_group=min_group))
            for v, label in Anonymization.choices
            if v in self.allowed_modes
        ]

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
