"""Keyset pagination of records, with one signed cursor: the dashboard's record tables, the
API's pages and streams, and every other reader that walks records in order.

Records sort by (onset or timestamp, id), which an index per scope serves, so a page a million
rows deep costs what the first one does. A cursor names the last row before (or the first row
after) a page boundary and is signed, so a reader cannot hand-craft one; it is signed without a
timestamp, so the same page always gives the same cursor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core import signing
from django.db.models import Q, QuerySet

SORT_COLUMNS = ("timestamp", "onset")
_SALT = "hyperstudy.cursor"


class InvalidCursor(ValueError):
    """A cursor this application did not issue, or one issued for another sort."""


@dataclass(frozen=True)
class Cursor:
    """A boundary in the order (column, id): ``value`` and ``pk`` of the row at the boundary;
    ``position`` counts the rows before the boundary (the API's ``offset`` of what follows)."""

    column: str
    descending: bool
    value: int | datetime
    pk: int
    position: int = 0

    def sign(self) -> str:
        value = self.value
        if isinstance(value, datetime):
            value = value.astimezone(UTC).isoformat()
        order = "desc" if self.descending else "asc"
        return signing.Signer(salt=_SALT).sign_object(
            [self.column, order, value, self.pk, self.position]
        )

    @classmethod
    def parse(cls, token: str) -> Cursor:
        try:
            column, order, value, pk, position = signing.Signer(salt=_SALT).unsign_object(token)
            if column not in SORT_COLUMNS or order not in ("asc", "desc"):
                raise ValueError
            if not isinstance(pk, int) or not isinstance(position, int):
                raise ValueError
            if column == "timestamp":
                value = datetime.fromisoformat(value)
            elif not isinstance(value, int) or isinstance(value, bool):
                raise ValueError
        except (signing.BadSignature, ValueError, TypeError):
            raise InvalidCursor(token) from None
        return cls(column, order == "desc", value, pk, position)


def ordering(column: str, descending: bool) -> tuple[str, str]:
    return (f"-{column}", "-id") if descending else (column, "id")


def seek(qs: QuerySet, cursor: Cursor, *, backwards: bool = False) -> QuerySet:
    """The rows after ``cursor`` in its order (before it when walking ``backwards``).

    The condition repeats ``column >= value`` on its own so that the index on
    (scope, column, id) is entered at the cursor instead of walked from the start.
    """
    column, value = cursor.column, cursor.value
    op, edge = ("lt", "lte") if cursor.descending != backwards else ("gt", "gte")
    return qs.filter(**{f"{column}__{edge}": value}).filter(
        Q(**{f"{column}__{op}": value}) | Q(**{column: value, f"id__{op}": cursor.pk})
    )


@dataclass
class Page:
    rows: list[Sequence[Any]]  # as selected, without the two key columns
    next: Cursor | None  # the boundary after the page, when there are more rows
    previous: Cursor | None  # the boundary before it, when the page did not start at the top
    position: int  # rows before the page (when walked forward from the top)
    past_end: bool = False


def page(
    qs: QuerySet,
    fields: Sequence[str],
    column: str,
    descending: bool,
    limit: int,
    *,
    after: Cursor | None = None,
    before: Cursor | None = None,
    from_end: bool = False,
    offset: int = 0,
) -> Page:
    """One page of ``fields`` of ``qs`` sorted by (column, id): after ``after``, before
    ``before``, the last rows (``from_end``), or ``offset`` rows from the top."""
    forward = before is None and not from_end
    cursor = after if forward else before
    walk = qs.values_list(*fields, column, "id")
    if cursor is not None:
        walk = seek(walk, cursor, backwards=not forward)
        offset = 0
    walk_desc = descending if forward else not descending
    found = list(walk.order_by(*ordering(column, walk_desc))[offset : offset + limit + 1])
    more = len(found) > limit
    found = found[:limit]
    if not forward:
        found.reverse()
    rows = [row[:-2] for row in found]

    def at(row: Sequence[Any], position: int) -> Cursor:
        return Cursor(column, descending, row[-2], row[-1], position)

    if forward:
        start = after.position if after else offset
        if not found:
            return Page([], None, None, start)
        return Page(
            rows,
            at(found[-1], start + len(found)) if more else None,
            at(found[0], start) if after else None,
            start,
        )
    start = max(before.position - len(found), 0) if before else 0
    if not found:
        return Page([], None, None, start, past_end=from_end)
    return Page(
        rows,
        None if from_end else at(found[-1], start + len(found)),
        at(found[0], start) if more else None,
        start,
        past_end=from_end,
    )
