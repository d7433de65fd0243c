"""The API Keys page's form."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from django import forms
from django.utils import timezone

from data_browser import access
from data_browser import datatypes as T

SCOPE_HELP = {
    "read:events": "Events",
    "read:recordings": "Recordings (with signed download links)",
    "read:chat": "Text chat",
    "read:ratings": "Continuous and sparse ratings",
    "read:sync": "Sync metrics",
    "read:components": "Components",
    "write:data": "Ingest records and run exports",
}


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="So you recognise it later, e.g. 'laptop'.")
    scopes = forms.MultipleChoiceField(
        choices=[(s, f"{s} — {SCOPE_HELP.get(s, '')}") for s in T.ALL_SCOPES],
        widget=forms.CheckboxSelectMultiple,
        initial=list(T.READ_SCOPES),
    )
    expires_on = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Optional: the key stops working at the end of this day (UTC).",
    )
    experiments = forms.ModelMultipleChoiceField(
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Optional: only these experiments (default: all you are a member of).",
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        reader = access.for_user(user)
        self.fields["experiments"].queryset = reader.experiments().order_by("public_id")
        self.fields["experiments"].label_from_instance = lambda e: f"{e.name} ({e.public_id})"

    def clean_expires_on(self) -> Any:
        day = self.cleaned_data.get("expires_on")
        if day is not None and day < timezone.now().date():
            raise forms.ValidationError("The expiry date must not be in the past.")
        return day

    @property
    def expires_at(self) -> datetime | None:
        day = self.cleaned_data.get("expires_on")
        return datetime.combine(day, time.max, tzinfo=UTC) if day else None
