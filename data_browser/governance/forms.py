"""Forms of the access, data-request, deletion and audit pages.

They check the shape of the input (a right that exists, a date that is not in the
past); the rules that need the database live in the feature modules
(``memberships``, ``retention``, ...).
"""

from __future__ import annotations

from datetime import date

from django import forms
from django.utils import timezone

from data_browser.models import DataRequest, ExportRight, Membership


class AddMemberForm(forms.Form):
    identifier = forms.CharField(label="Username or email", max_length=254)
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.COLLABORATOR)
    export_right = forms.ChoiceField(
        label="Export right", choices=ExportRight.choices, initial=ExportRight.NONE
    )


class ChangeMemberForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)
    export_right = forms.ChoiceField(label="Export right", choices=ExportRight.choices)


class OwnershipForm(forms.Form):
    SHARE = "share"
    TRANSFER = "transfer"

    identifier = forms.CharField(label="Username or email", max_length=254)
    mode = forms.ChoiceField(
        choices=[
            (SHARE, "Share: they become an owner too"),
            (TRANSFER, "Transfer: they become owner, I become a full collaborator"),
        ],
        initial=SHARE,
        widget=forms.RadioSelect,
    )


class RetentionForm(forms.Form):
    retention_until = forms.DateField(
        label="Delete all data after",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Leave empty to keep the data until you delete it.",
    )

    def __init__(self, *args, today: date | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.today = today or timezone.localdate()

    def clean_retention_until(self) -> date | None:
        value = self.cleaned_data["retention_until"]
        if value is not None and value < self.today:
            raise forms.ValidationError("This date is in the past; choose today or a later date.")
        return value


class StatusForm(forms.Form):
    action = forms.ChoiceField(
        choices=[("complete", "Complete"), ("archive", "Archive"), ("restore", "Restore")]
    )


class DecideForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("decline", "Decline")])
    note = forms.CharField(
        required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 2})
    )


class DataRequestForm(forms.Form):
    experiment = forms.CharField(max_length=64)
    kind = forms.ChoiceField(choices=DataRequest.Kind.choices)


class InviteForm(forms.Form):
    username = forms.CharField(max_length=150)
    email = forms.EmailField(help_text="The invitation to choose a password is sent here.")


class AuditFilterForm(forms.Form):
    person = forms.CharField(required=False, max_length=150)
    action = forms.ChoiceField(required=False)
    date_from = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, actions: list[str] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", "Any action"), *((a, a) for a in actions)]

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            raise forms.ValidationError("The start date is after the end date.")
        return data
