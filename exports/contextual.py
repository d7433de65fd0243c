"""Contextual exports: a Data Viewer tab's filters, carried into the export of that tab.

The filters are the tab's own FilterSet (``data_browser.filters.record_filterset``), so an
export keeps exactly the rows the tab shows: the same names (the API's query parameters), the
same bounds (``startTime`` inclusive, ``endTime`` exclusive, onset bounds inclusive). A job
stores them in canonical form (``canonical``): only the filters that are set, times as ISO
8601 UTC, numbers without exponent, text stripped; every writer reads its rows through
``apply``, the COPY path and the Python path alike.

What a file, the job list and the API show of them is ``recorded``: everything for a reader
who sees identifiers; in a de-identified file, times, onsets and fixed choices (category,
quality issue) as they are, labels (event type, component, state, message type, a recording's
status and format) scrubbed like the same column of the file, and free text searched for
(``content``) withheld: part of a name is not recognisable as one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet

from data_browser import datatypes as T
from data_browser.filters import record_filterset
from data_browser.filters import recorded as recorded  # what a de-identified file shows

MAX_VALUE_LENGTH = 500


class FilterError(ValueError):
    """A filter the tab's FilterSet does not take, or a value it refuses (a sentence)."""


def canonical(dt: T.DataType, raw: Mapping[str, Any]) -> dict[str, str]:
    """The filters that are set, validated by ``dt``'s FilterSet, in canonical form (sorted by
    name). Raises ``FilterError`` naming the first bad filter."""
    filterset_class = record_filterset(dt)
    known = filterset_class.base_filters
    data: dict[str, str] = {}
    for name, value in raw.items():
        if not _encodable(name) or (isinstance(value, str) and not _encodable(value)):
            raise FilterError("Filter names and values must be valid UTF-8 text.")
        if name not in known:
            names = ", ".join(known)
            raise FilterError(f"{dt.label} cannot be filtered by “{name[:60]}”; use {names}.")
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise FilterError(f"Filter “{name}” takes a text, a number or a time.")
        text = str(value).strip()
        if len(text) > MAX_VALUE_LENGTH:
            raise FilterError(f"Filter “{name}” is longer than {MAX_VALUE_LENGTH} characters.")
        if text:
            data[name] = text
    if not data:
        return {}
    filterset = filterset_class(data, queryset=dt.model.objects.none())
    if not filterset.is_valid():
        name, messages = next(iter(filterset.errors.items()))
        raise FilterError(f"Filter “{label(dt, name)}” ({name}): {' '.join(messages)}")
    cleaned = filterset.form.cleaned_data
    return {
        name: _text(cleaned[name]) for name in sorted(data) if cleaned.get(name) not in (None, "")
    }


def _encodable(text: str) -> bool:
    """No lone surrogate (JSON can carry one; the database and the error answer cannot)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return T.iso(value.astimezone(UTC))
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def apply(dt: T.DataType, filters: Mapping[str, str], queryset: QuerySet) -> QuerySet:
    """``queryset`` narrowed by the job's filters, through the tab's FilterSet."""
    if not filters:
        return queryset
    filterset = record_filterset(dt)(dict(filters), queryset=queryset)
    if not filterset.is_valid():  # stored canonical: only a changed FilterSet gets here
        raise FilterError(f"The export's filters are no longer valid: {dict(filterset.errors)}")
    return filterset.qs


def label(dt: T.DataType, name: str) -> str:
    found = record_filterset(dt).base_filters.get(name)
    return str(found.label) if found is not None and found.label else name


def described(dt: T.DataType, filters: Mapping[str, str]) -> list[tuple[str, str]]:
    """(label, value) of each filter as the tab's form names them (a choice by its label)."""
    base = record_filterset(dt).base_filters
    out = []
    for name, value in filters.items():
        choices = dict(getattr(base.get(name), "extra", {}).get("choices") or ())
        out.append((label(dt, name), str(choices.get(value, value))))
    return out
