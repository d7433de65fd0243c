"""The column chooser of the record tabs: which columns of a data type a reader sees.

Each type has sensible defaults (``DataType.hidden`` lists what they leave out); a reader's own
choice is remembered per type in their profile (``Profile.table_columns``, the shown columns
by API name: ``{"events": ["timestamp", "onset", …]}``) and the table leaves the others out
with django-tables2's ``exclude``. A level shows only some fields (no participant column in a
participant's own viewer): a choice made there keeps what was chosen for the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django import forms
from django.http import HttpRequest

from . import datatypes as T
from .models import Profile


class ColumnForm(forms.Form):
    columns = forms.MultipleChoiceField(
        label="Columns shown",
        widget=forms.CheckboxSelectMultiple,
        required=False,
        error_messages={"invalid_choice": "There is no column “%(value)s” in this table."},
    )

    def __init__(self, offered: Sequence[T.Field], *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.fields["columns"].choices = [(f.name, f.label) for f in offered]

    def clean_columns(self) -> list[str]:
        chosen = self.cleaned_data["columns"]
        if not chosen:
            raise forms.ValidationError("Keep at least one column.")
        return chosen


def defaults(dt: T.DataType) -> list[str]:
    return [f.name for f in dt.fields if f.name not in dt.hidden]


def shown(profile: Profile | None, dt: T.DataType) -> list[str]:
    """The columns of ``dt`` the reader chose, or the type's defaults (also when the stored
    choice is not a list of names: a hand-edited profile never breaks a page)."""
    stored = (profile.table_columns if profile is not None else None) or {}
    choice = stored.get(dt.key) if isinstance(stored, dict) else None
    if isinstance(choice, list) and all(isinstance(name, str) for name in choice):
        return choice
    return defaults(dt)


@dataclass
class Chooser:
    """The columns of one tab for one reader: the form that changes them and what to leave out."""

    dt: T.DataType
    offered: list[T.Field]  # the fields this level shows at all
    form: ColumnForm
    hidden: tuple[str, ...]
    saved: bool = False  # a posted choice was valid and is remembered
    customised: bool = False  # the reader's own choice, not the defaults

    @property
    def shown_count(self) -> int:
        return len(self.offered) - len(self.hidden)


def _profile(request: HttpRequest) -> Profile | None:
    return getattr(request.user, "profile", None)


def chooser(request: HttpRequest, dt: T.DataType, offered: Sequence[T.Field]) -> Chooser:
    """The chooser of ``dt`` for the signed-in reader; a POST of the form (or of "reset")
    changes the remembered choice when it is valid, and leaves it alone with a form error
    when it names a column the table does not have."""
    offered = list(offered)
    profile = _profile(request)
    if request.method == "POST":
        if request.POST.get("reset"):
            _remember(request, dt, None)
            return _chooser(dt, offered, None, saved=True)
        form = ColumnForm(offered, request.POST)
        if form.is_valid():
            names = {f.name for f in offered}
            before = set(shown(profile, dt))
            chosen = set(form.cleaned_data["columns"])
            keep = [
                f.name
                for f in dt.fields
                if f.name in chosen or (f.name not in names and f.name in before)
            ]
            _remember(request, dt, keep)
            return _chooser(dt, offered, keep, saved=True)
        return _chooser(dt, offered, shown(profile, dt), form)
    return _chooser(dt, offered, shown(profile, dt))


def _chooser(
    dt: T.DataType,
    offered: list[T.Field],
    choice: list[str] | None,
    form: ColumnForm | None = None,
    **kw: Any,
) -> Chooser:
    wanted = set(defaults(dt) if choice is None else choice)
    hidden = tuple(f.name for f in offered if f.name not in wanted)
    if len(hidden) == len(offered):  # nothing of this level chosen: the defaults
        hidden = tuple(f.name for f in offered if f.name in dt.hidden)
    if form is None:
        form = ColumnForm(
            offered, initial={"columns": [f.name for f in offered if f.name not in hidden]}
        )
    customised = choice is not None and set(choice) != set(defaults(dt))
    return Chooser(dt, offered, form, hidden, customised=customised, **kw)


def _remember(request: HttpRequest, dt: T.DataType, choice: list[str] | None) -> None:
    profile, _ = Profile.objects.get_or_create(user=request.user)
    columns = dict(profile.table_columns) if isinstance(profile.table_columns, dict) else {}
    if choice is None:
        columns.pop(dt.key, None)
    else:
        columns[dt.key] = choice
    profile.table_columns = columns
    profile.save(update_fields=["table_columns"])
