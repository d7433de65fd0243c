"""Filters of the browse pages and the API: one FilterSet per level, and one per data type made
from the registry, so a type's filters are named after its API fields and never listed here
again. The record filters are the dashboard's filter form and the API's query parameters
alike: the same names, the same bounds (``startTime`` inclusive, ``endTime`` exclusive, so
consecutive windows never count a record twice; onset bounds both inclusive)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache

import django_filters as df
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_filters.fields import IsoDateTimeField

from . import datatypes as T
from . import quality
from .identity import REMOVED, Policy
from .models import Experiment, Room, RoomParticipant


def humanize(api_name: str) -> str:
    """``eventType`` → ``Event type``: labels read like the guide, params stay the API's."""
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", api_name).lower()
    return words[:1].upper() + words[1:]


class _Text(forms.TextInput):
    def __init__(self, placeholder: str = "", size: int = 14) -> None:
        super().__init__(attrs={"placeholder": placeholder, "size": size})


class ExperimentFilter(df.FilterSet):
    """Archived experiments stay out of the list unless asked for by status or the toggle."""

    q = df.CharFilter(method="search", label="Name or id", widget=_Text("Search"))
    status = df.ChoiceFilter(choices=Experiment.Status.choices, empty_label="Any status")
    archived = df.BooleanFilter(
        method="keep", label="Show archived", widget=forms.CheckboxInput(attrs={"value": "1"})
    )

    class Meta:
        model = Experiment
        fields = ["q", "status", "archived"]

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(name__icontains=value) | Q(public_id__icontains=value))

    def keep(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        return queryset

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        queryset = super().filter_queryset(queryset)
        data = getattr(self.form, "cleaned_data", {})
        if not data.get("status") and not data.get("archived"):
            queryset = queryset.exclude(status=Experiment.Status.ARCHIVED)
        return queryset


class RoomFilter(df.FilterSet):
    q = df.CharFilter(
        field_name="public_id", lookup_expr="icontains", label="Room id", widget=_Text("room_…")
    )
    status = df.ChoiceFilter(choices=Room.Status.choices, empty_label="Any status")

    class Meta:
        model = Room
        fields = ["q", "status"]


class ParticipantFilter(df.FilterSet):
    role = df.CharFilter(lookup_expr="iexact", widget=_Text("e.g. participant_a"))
    status = df.ChoiceFilter(choices=RoomParticipant.Status.choices, empty_label="Any status")

    class Meta:
        model = RoomParticipant
        fields = ["role", "status"]


# Onsets are milliseconds in a 64-bit column; a bound past what any session lasts is an
# input error (a number past the column's range would not compile to SQL at all).
ONSET_LIMIT_MS = 10**15


def _onset_filter(lookup: str, label: str, example: str) -> df.NumberFilter:
    return df.NumberFilter(
        field_name="onset",
        lookup_expr=lookup,
        label=label,
        widget=_Text(example, 8),
        min_value=-ONSET_LIMIT_MS,
        max_value=ONSET_LIMIT_MS,
    )


class _When(forms.DateTimeInput):
    """The browser's date-time picker. Its time is the reader's zone (the form names it; a time
    without an offset is read in that zone), and a time given with an offset, as in a link
    written for the API, is shown in that zone rather than left out by the picker."""

    input_type = "datetime-local"

    def __init__(self) -> None:
        super().__init__(attrs={"step": "1"}, format="%Y-%m-%dT%H:%M:%S")

    def format_value(self, value):
        if isinstance(value, str):
            try:
                value = parse_datetime(value.strip()) or value
            except ValueError:  # a date that does not exist; the field says so
                return value
        if isinstance(value, datetime) and timezone.is_aware(value):
            try:
                value = timezone.localtime(value).replace(tzinfo=None)
            except OverflowError:
                return None
        return super().format_value(value)


class UtcDateTimeField(IsoDateTimeField):
    """An ISO 8601 instant, in UTC: any offset the text gives (``+17:49`` parses, but
    PostgreSQL takes offsets up to 15:59 only) is resolved here, once."""

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except (OverflowError, ValueError):
            raise ValidationError("is out of the supported date range", code="invalid") from None


class UtcDateTimeFilter(df.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class RecordFilter(df.FilterSet):
    """Time and onset ranges every type has; the type's own filters are added by
    ``record_filterset``."""

    startTime = UtcDateTimeFilter(
        field_name="timestamp",
        lookup_expr="gte",
        label="From",
        widget=_When(),
    )
    endTime = UtcDateTimeFilter(
        field_name="timestamp",
        lookup_expr="lt",
        label="Before",
        widget=_When(),
    )
    onsetFrom = _onset_filter("gte", "Onset from (ms)", "e.g. -5000")
    onsetTo = _onset_filter("lte", "Onset to (ms)", "e.g. 60000")
    issue = df.ChoiceFilter(
        choices=quality.ISSUE_CHOICES,
        method="with_issue",
        label="Quality issue",
        empty_label="All records",
    )

    def with_issue(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(quality.issue_q(self.data_type, value))

    data_type: T.DataType = T.EVENTS


def _in_category(queryset: QuerySet, name: str, value: str) -> QuerySet:
    return queryset.filter(T.category_filter(value)) if value else queryset


def _type_filter(f: T.Field) -> df.Filter:
    if f.name == "category":  # the guide's category dropdown, the categories the API knows
        return df.ChoiceFilter(
            choices=[(c, c.title()) for c in T.EVENT_CATEGORIES],
            method=_in_category,
            label="Category",
            empty_label="Any category",
        )
    if f.kind == T.TEXT:
        return df.CharFilter(
            field_name=f.column,
            lookup_expr="icontains",
            label=f"{humanize(f.name)} contains",
            widget=_Text("text"),
        )
    return df.CharFilter(
        field_name=f.column, label=humanize(f.name), widget=_Text(f"e.g. {f.name}")
    )


def suggestion_fields(dt: T.DataType) -> list[T.Field]:
    """The exact-value filters that offer a pick-list of the values present."""
    return [
        dt.get_field(name)
        for name in dt.filters
        if dt.get_field(name).kind == T.STR and name != "category"
    ]


def record_filterset(dt: T.DataType) -> type[RecordFilter]:
    return _record_filterset(dt.key)


@cache
def _record_filterset(key: str) -> type[RecordFilter]:
    dt = T.BY_KEY[key]
    attrs: dict = {name: _type_filter(dt.get_field(name)) for name in dt.filters}
    attrs["data_type"] = dt
    attrs["Meta"] = type("Meta", (), {"model": dt.model, "fields": []})
    return type(f"{dt.model.__name__}Filter", (RecordFilter,), attrs)


# Filters of every type whose values are times, numbers or fixed choices: no person in them.
_FIXED = frozenset(RecordFilter.base_filters) | {"category"}


def recorded(dt: T.DataType, filters: Mapping[str, str], policy: Policy | None) -> dict[str, str]:
    """The filters as an output read under ``policy`` may show them (an export's
    metadata.json, the job list, the API's ``metadata.query``): everything for a reader who
    sees identifiers; else times, onsets and fixed choices as they are, labels scrubbed like
    the same column, free text searched for withheld (part of a name is not recognisable as
    one). Without one policy (a participant's scope across experiments), labels are withheld."""
    if policy is not None and policy.identifiers:
        return dict(filters)
    out = {}
    for name, value in filters.items():
        if name in _FIXED:
            out[name] = value
            continue
        f = dt.get_field(name)
        if f.kind != T.TEXT and f.deidentify == T.KEEP:
            out[name] = value
        elif f.kind != T.TEXT and f.deidentify == T.SCRUB and policy is not None:
            out[name] = policy.label(value)
        else:
            out[name] = REMOVED
    return out
