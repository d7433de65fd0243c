"""The API Keys page's form."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms

from data_browser import access
from data_browser import datatypes as T

from . import keys

SCOPE_HELP = {
    "read:events": "Read Events (also rooms and participants)",
    "read:recordings": "Read Recordings (with signed download links)",
    "read:chat": "Read Text Chat",
    "read:ratings": "Read Ratings (continuous and sparse)",
    "read:sync": "Read Sync Metrics",
    "read:components": "Read Components",
    T.READ_ALL: "Read All Data (every read scope, also of data types added later)",
    "write:data": "Ingest records and run exports",
    T.EVERYTHING: "Full access (every scope, also scopes added later)",
}
SCOPE_CHOICES = [(s, f"{s} — {SCOPE_HELP.get(s, '')}") for s in T.KEY_SCOPES]
EXPIRY_LABELS = {
    "7d": "7 days (good for testing)",
    "30d": "30 days (short projects)",
    "90d": "90 days (recommended)",
    "1y": "1 year (long-term integrations)",
    "never": "Never (use with caution)",
}


class KeyDetailsForm(forms.Form):
    """What can be changed after creation: name, description, scopes."""

    name = forms.CharField(
        max_length=100, help_text="A descriptive name, e.g. 'Python Analysis Script'."
    )
    description = forms.CharField(
        label="Description (optional)",
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What the key is for, for whoever reviews the lab's keys.",
    )
    scopes = forms.MultipleChoiceField(
        choices=SCOPE_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        initial=[T.READ_ALL],
        help_text="Grant only what the script needs.",
    )


class ApiKeyForm(KeyDetailsForm):
    """A new key: besides name, description and scopes, its expiry and experiments."""

    expires_in = forms.ChoiceField(
        label="Expiration",
        choices=list(EXPIRY_LABELS.items()),
        initial=keys.DEFAULT_EXPIRY,
        help_text="The expiry cannot be changed later: create a new key instead.",
    )
    experiments = forms.ModelMultipleChoiceField(
        label="Only these experiments (optional)",
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every experiment you are a member of, now and later.",
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        reader = access.for_user(user)
        self.fields["experiments"].queryset = reader.experiments().order_by("public_id")
        self.fields["experiments"].label_from_instance = lambda e: f"{e.name} ({e.public_id})"

    @property
    def expires_at(self) -> datetime | None:
        return keys.expiry(self.cleaned_data["expires_in"])
