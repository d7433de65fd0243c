"""The tables of the browse pages.

Three small tables (experiments, rooms, participants) sort and page in the database with
django-tables2's own machinery (``RequestConfig``). The record tables are one generic table
built from the data-type registry; their rows arrive already sorted and sliced by a keyset
query (so a page ten thousand rows deep costs what the first one does), and the table only
renders them. Every cell is marked up by the tables' template, ``_table.html``: a column turns
its value into a ``cell`` (text, and the markup, tooltip, class or link around it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache, lru_cache, partial
from typing import Any

import django_tables2 as tables
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, QueryDict
from django.urls import reverse
from django_tables2 import RequestConfig
from django_tables2.data import TableListData

from . import datatypes as T
from . import formats, keyset
from .identity import participant_code, room_code
from .presentations import drift_band

PER_PAGE = 50
SMALL_PER_PAGE = 25


# Who is shown how: identifiers for those who may see them, codes for everyone else.


@dataclass(frozen=True)
class People:
    """How participants of one experiment appear to the signed-in user.

    ``ref`` is what the page shows and what participant URLs carry: the public id for users
    who see identifiers, the experiment's code otherwise, so a de-identified user's links and
    history never contain an identifier. ``own`` is set for a participant account browsing
    its own sessions: only its own viewer is linked, and it is labelled "you".
    """

    experiment_id: str
    identifiers: bool
    own: str | None = None

    def ref(self, public_id: str) -> str:
        return public_id if self.identifiers else participant_code(self.experiment_id, public_id)

    @property
    def room_ids(self) -> bool:
        """Rooms appear by id to those who see identifiers and to a participant in their own
        sessions; to everyone else by code (``identity.room_code``)."""
        return self.identifiers or self.own is not None

    def room(self, public_id: str | None) -> str | None:
        if public_id is None or self.room_ids:
            return public_id
        return room_code(self.experiment_id, public_id)

    def is_own(self, ref: str) -> bool:
        return self.own is not None and ref == self.ref(self.own)

    def label(self, ref: str) -> str:
        return f"{ref} (you)" if self.is_own(ref) else ref

    def url(self, room_id: str, ref: str) -> str | None:
        if self.own is not None and not self.is_own(ref):
            return None
        return browse_url("participant", self.experiment_id, room_id, ref)

    def cell(self, room_id: str, ref: str) -> dict[str, Any]:
        """The participant as a table cell: a link to their viewer where the reader may open it."""
        return cell(self.label(ref), "link", css="code", url=self.url(room_id, ref))


@lru_cache(maxsize=4096)
def browse_url(name: str, *args: str) -> str:
    """``reverse`` costs more than a table cell; a page links the same few rooms and people."""
    return reverse(f"data_browser:{name}", args=args)


# The record columns: each turns a value into a cell, which the table's template marks up.

CLIP_CHARS = 48  # text longer than this is cut short in its cell, whole in its tooltip


def human_bytes(n: int | None) -> str:
    if n is None:
        return "—"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def cell(text: Any, markup: str = "", **parts: Any) -> dict[str, Any]:
    """One cell for ``_table.html``: its text, the ``markup`` around it ("" plain, "num" a
    number, or a branch of the template's ``markup`` partial) and that markup's parts (title,
    css, url). A dict with every part the template asks for: the engine reads a key at the
    first try, while a missing one (or a tuple's or an object's) costs it three exceptions,
    about 7 µs, and a record page has seven hundred cells."""
    return {"text": text, "markup": markup, "title": "", "css": "", "url": "", **parts}


def heading_attrs(name: str, meaning: str, unit: str = "", **attrs: Any) -> dict[str, Any]:
    """The header cell of a column: people read its heading, the API name (as in exports and
    the API) and what it means are on hover."""
    title = f"{name}: {meaning}" + (f" ({unit})" if unit else "")
    return {**attrs, "th": {"title": title, "data-field": name, **attrs.get("th", {})}}


class FieldColumn(tables.Column):
    """A column for one registry field, headed by its readable name (``Field.label``).

    ``cell`` turns a value into the cell the table's template marks up; the subclasses
    below say how a kind of value reads. Record rows arrive prepared (``RecordTable.cells``):
    django-tables2's per-cell accessor and signature inspection cost more than the query
    behind the page, so the table calls ``cell`` directly.
    """

    def __init__(self, f: T.Field, **kw: Any) -> None:
        self.field = f
        self.num = f.kind in (T.INT, T.FLOAT)
        attrs = heading_attrs(
            f.name, f.meaning, f.unit, **({"td": {"class": "num"}} if self.num else {})
        )
        super().__init__(accessor=tables.A(f.name), verbose_name=f.label, attrs=attrs, **kw)

    def cell(self, value: Any, record: dict, table: RecordTable) -> dict[str, Any]:
        if not self.num:
            return cell(str(value))
        text = formats.number(value) + (f" {self.field.unit}" if self.field.unit else "")
        if isinstance(value, float) and round(value, 2) != value:
            return cell(text, "titled", title=str(value))  # the exact value on hover
        return cell(text, "num")


class TextColumn(FieldColumn):
    """Free text on one line, cut short with an ellipsis; the whole text on hover."""

    def cell(self, value: str, record: dict, table: RecordTable) -> dict[str, Any]:
        return cell(value, "text", title=value if len(value) > CLIP_CHARS else "")


class JSONColumn(FieldColumn):
    """JSON on one line, cut short; indented in the tooltip (and the expanded row)."""

    def cell(self, value: Any, record: dict, table: RecordTable) -> dict[str, Any]:
        text = formats.json_compact(value)
        return cell(text, "json", title=formats.json_text(value) if len(text) > CLIP_CHARS else "")


class TimeColumn(FieldColumn):
    """A moment in the reader's time zone, the zone in the header; the exact instant (UTC,
    ISO 8601, as exports write it) on hover."""

    @property
    def header(self) -> str:
        return f"{self.verbose_name} ({formats.zone_label()})"

    def cell(self, value: str, record: dict, table: RecordTable) -> dict[str, Any]:
        return cell(formats.when(value), "titled", title=value)


class MediaColumn(FieldColumn):
    def cell(self, value: str, record: dict, table: RecordTable) -> dict[str, Any]:
        return cell("Download", "media", url=value)


class OnsetColumn(FieldColumn):
    """Negative onsets (before the room started) stay visibly negative."""

    def cell(self, value: int, record: dict, table: RecordTable) -> dict[str, Any]:
        if value < 0:
            title = f"{formats.duration(-value)} before the room started"
            return cell(f"-{-value:,} ms", "titled", title=title, css="negative")
        title = f"{formats.duration(value)} after the start"
        return cell(f"{value:,} ms", "titled", title=title)


class DurationColumn(FieldColumn):
    """``20 min 0 s``; the milliseconds on hover."""

    def cell(self, value: int, record: dict, table: RecordTable) -> dict[str, Any]:
        return cell(formats.duration(value), "titled", title=f"{value:,} ms")


class SizeColumn(FieldColumn):
    def cell(self, value: int, record: dict, table: RecordTable) -> dict[str, Any]:
        return cell(human_bytes(value), "titled", title=f"{value:,} bytes")


class ParticipantColumn(FieldColumn):
    def cell(self, value: str, record: dict, table: RecordTable) -> dict[str, Any]:
        return table.people.cell(record[table.room_field], value)


class ParticipantListColumn(FieldColumn):
    def cell(self, value: list[str], record: dict, table: RecordTable) -> dict[str, Any]:
        return cell(", ".join(table.people.label(p) for p in value) or "—")


class RoomColumn(FieldColumn):
    def cell(self, value: str, record: dict, table: RecordTable) -> dict[str, Any]:
        return cell(value, "link", url=browse_url("room", table.people.experiment_id, value))


def field_column(f: T.Field, **kw: Any) -> FieldColumn:
    """The column class that shows a field's values as the guide describes them: times in the
    reader's zone, onsets and durations with their clock time, JSON and long text cut short,
    people and rooms as links, sizes in units, numbers with separators."""
    if f.kind == T.JSON:
        return JSONColumn(f, **kw)
    if f.kind == T.DATETIME:
        return TimeColumn(f, **kw)
    if f.column == "onset":
        return OnsetColumn(f, **kw)
    if f.kind == T.URL:
        return MediaColumn(f, **kw)
    if f.kind == T.PARTICIPANT:
        return ParticipantColumn(f, **kw)
    if f.kind == T.PARTICIPANT_LIST:
        return ParticipantListColumn(f, **kw)
    if f.kind == T.ROOM:
        return RoomColumn(f, **kw)
    if f.name == "fileSize":
        return SizeColumn(f, **kw)
    if f.unit == "ms" and f.kind == T.INT:
        return DurationColumn(f, **kw)
    if f.kind == T.TEXT:
        return TextColumn(f, **kw)
    return FieldColumn(f, **kw)


class PreparedRows(TableListData):
    """Rows the database already sorted and sliced: the table labels the order, never re-sorts."""

    def order_by(self, aliases) -> None:
        return None


class BrowseTable(tables.Table):
    cells: list[list[dict[str, Any]]] | None = None  # prepared rows (record tables)

    class Meta:
        template_name = "data_browser/_table.html"
        attrs = {"class": "data-table"}
        orderable = True
        empty_text = "Nothing matches."


class DetailColumn(tables.Column):
    """The first cell of a record row: the button that expands the row into the whole record
    (``views.record_detail``, loaded by htmx under the row)."""

    def __init__(self) -> None:
        super().__init__(verbose_name="Details", orderable=False, attrs={"th": {"class": "toggle"}})


class RecordTable(BrowseTable):
    """One page of records of one type, its cells prepared by its columns; ``details`` are
    the URLs of the rows' expanded records, in the rows' order.

    The rows' buttons carry only their record's URL: how htmx loads it is said once, on the
    tbody (the buttons inherit it): into a row after the button's own (``closest tr``), without
    a history entry (the region above pushes its URL, an expanded row does not)."""

    people: People
    room_field: str

    class Meta(BrowseTable.Meta):
        attrs = {
            **BrowseTable.Meta.attrs,
            "tbody": {"hx-target": "closest tr", "hx-swap": "afterend", "hx-push-url": "false"},
        }

    def __init__(
        self,
        rows: list[dict],
        *,
        people: People,
        order_by: str,
        filtered: bool,
        details: Sequence[str],
        **kw: Any,
    ) -> None:
        self.people = people
        matching = " match these filters" if filtered else ""
        super().__init__(
            PreparedRows(rows), order_by=order_by, empty_text=f"No records{matching}.", **kw
        )
        columns = [
            (bc.name, bc.column, cell("—", "num" if bc.column.num else ""))
            for bc in self.columns
            if not isinstance(bc.column, DetailColumn)
        ]
        self.cells = [
            {
                "attrs": row.attrs,  # Meta.row_attrs, as django-tables2 computes them
                "cells": [
                    cell("Show the whole record", "detail", url=url),
                    *(
                        empty
                        if (v := row.record.get(name)) in (None, "")
                        else column.cell(v, row.record, self)
                        for name, column, empty in columns
                    ),
                ],
            }
            for row, url in zip(self.rows, details, strict=True)
        ]


def visible_fields(dt: T.DataType, level: str, identifiers: bool) -> list[T.Field]:
    """The experiment is in the breadcrumb, the room too below experiment level, the participant
    in the header of their viewer; names only for users who see identifiers."""
    hidden = {T.EXPERIMENT}
    if level in ("room", "participant"):
        hidden.add(T.ROOM)
    if level == "participant":
        hidden.update({T.PARTICIPANT, T.NAME})
    if not identifiers:
        hidden.add(T.NAME)
    return [f for f in dt.fields if f.kind not in hidden]


def orderable_columns(dt: T.DataType, level: str, identifiers: bool = True) -> set[str]:
    """Time columns sort at every level (an index serves them); other plain columns only below
    experiment level, where one room or participant bounds the rows to sort. Codes do not sort
    by the identifiers behind them."""
    names = {f.name for f in dt.fields if f.column in keyset.SORT_COLUMNS}
    if level != "experiment":
        unsortable = {T.JSON, T.URL, T.PARTICIPANT_LIST, T.NAME}
        if not identifiers:
            unsortable.add(T.PARTICIPANT)
        names |= {f.name for f in dt.fields if f.kind not in unsortable}
    return names


def band_class(name: str, record: dict) -> str:
    """The colour band of a row by the value of its field ``name`` (sync drift: < 100 ms
    green, 100 to 500 ms yellow, beyond red), as the summary and the plot colour it."""
    band = drift_band(record.get(name))
    return f"band-{band}" if band else ""


def record_table(dt: T.DataType, level: str, identifiers: bool) -> type[RecordTable]:
    return _record_table(dt.key, level, identifiers)


@cache
def _record_table(key: str, level: str, identifiers: bool) -> type[RecordTable]:
    dt = T.BY_KEY[key]
    orderable = orderable_columns(dt, level, identifiers)
    columns = {
        f.name: field_column(f, orderable=f.name in orderable)
        for f in visible_fields(dt, level, identifiers)
    }
    room_field = next(f.name for f in dt.fields if f.kind == T.ROOM)
    attrs: dict[str, Any] = {"detail": DetailColumn(), **columns, "room_field": room_field}
    meta: dict[str, Any] = {"sequence": ("detail", *columns)}
    if dt.band_field:
        meta["row_attrs"] = {"class": partial(band_class, dt.band_field)}
    attrs["Meta"] = type("Meta", (RecordTable.Meta,), meta)
    return type(f"{dt.model.__name__}Table", (RecordTable,), attrs)


def default_sort(dt: T.DataType) -> str:
    return next(f.name for f in dt.fields if f.column == "onset")


@dataclass
class RecordPages:
    """One page of a record table and the query strings of its navigation links."""

    rows: list[Sequence[Any]]
    notes: list[str]
    next: str | None = None
    previous: str | None = None
    first: str | None = None
    number: int | None = None  # numbered pages only (sorts without a keyset)
    count: int | None = None


def page_records(
    qs: QuerySet, fields: Sequence[str], column: str, sort: str, query: QueryDict
) -> RecordPages:
    """The page ``query`` asks for: by keyset when sorted by onset or time, else numbered
    (only offered where one room bounds the rows). Bad cursors and page numbers become notes
    and the nearest valid page."""
    descending = sort.startswith("-")
    params = query.copy()
    for key in ("after", "before", "page"):
        params.pop(key, None)

    def link(**extra: str) -> str:
        q = params.copy()
        for k, v in extra.items():
            q[k] = v
        return q.urlencode()

    notes: list[str] = []
    if column not in keyset.SORT_COLUMNS:
        qs = qs.values_list(*fields)
        return _numbered(qs, column, descending, query.get("page") or "1", link, notes)
    cursors: dict[str, keyset.Cursor] = {}
    for key in ("after", "before"):
        if key in query:
            try:
                cursor = keyset.Cursor.parse(query[key])
                if (cursor.column, cursor.descending) != (column, descending):
                    raise keyset.InvalidCursor(query[key])
                cursors[key] = cursor
            except keyset.InvalidCursor:
                notes.append("That page link is not valid (any more); showing the first page.")
            break
    page = keyset.page(qs, fields, column, descending, PER_PAGE, **cursors)
    if not page.rows and cursors:
        notes.append("There are no rows past that point; showing the last rows.")
        page = keyset.page(qs, fields, column, descending, PER_PAGE, from_end=True)
    return RecordPages(
        page.rows,
        notes,
        next=link(after=page.next.sign()) if page.next else None,
        previous=link(before=page.previous.sign()) if page.previous else None,
        first=link() if (cursors or page.past_end) else None,
    )


def _numbered(qs: QuerySet, column: str, descending: bool, raw: str, link, notes) -> RecordPages:
    sign = "-" if descending else ""
    paginator = Paginator(qs.order_by(f"{sign}{column}", f"{sign}id"), PER_PAGE)
    try:
        number = int(raw)
    except ValueError:
        notes.append(f"“{raw}” is not a page number; showing the first page.")
        number = 1
    if number > paginator.num_pages or number < 1:
        notes.append(f"There is no page {number}; showing page {paginator.num_pages}.")
        number = paginator.num_pages if number > 1 else 1
    current = paginator.page(number)
    return RecordPages(
        list(current.object_list),
        notes,
        next=link(page=str(number + 1)) if current.has_next() else None,
        previous=link(page=str(number - 1)) if current.has_previous() else None,
        first=link() if number > 1 else None,
        number=number,
        count=paginator.num_pages,
    )


# The hierarchy tables.


def listing_attrs(listing: T.Listing, name: str, **attrs: Any) -> dict[str, Any]:
    """The header of a hierarchy column: the API name of the listing's field on hover."""
    f = next(f for f in listing.fields if f.name == name)
    return heading_attrs(f.name, f.meaning, **attrs)


NUM = {"td": {"class": "num"}}


class StatusColumn(tables.Column):
    """A status as a coloured badge."""

    def render(self, value: str, record: Any) -> dict[str, Any]:
        return cell(record.get_status_display(), "badge", css=f"status-{value}")


class CountColumn(tables.Column):
    def render(self, value: int) -> str:
        return formats.number(value)


class WhenColumn(tables.Column):
    """A moment in the reader's time zone, the zone in the header; the instant on hover."""

    def __init__(self, *args: Any, seconds: bool = True, **kw: Any) -> None:
        self.seconds = seconds
        super().__init__(*args, **kw)

    @property
    def header(self) -> str:
        return f"{self.verbose_name} ({formats.zone_label()})"

    def render(self, value: datetime) -> dict[str, Any]:
        return cell(formats.when(value, self.seconds), "titled", title=T.iso(value))


class ExperimentTable(BrowseTable):
    name = tables.TemplateColumn(
        template_name="data_browser/_cells.html#experiment-name",
        verbose_name="Experiment",
        attrs=heading_attrs("name", "Name of the experiment"),
    )
    public_id = tables.Column(
        verbose_name="ID",
        attrs=heading_attrs("experimentId", "Experiment id (as the API names it)"),
    )
    status = StatusColumn(attrs=heading_attrs("status", "active, completed or archived"))
    participant_count = CountColumn(
        verbose_name="Participants",
        attrs=heading_attrs("participantCount", "Participants who joined a room", **NUM),
    )
    created_at = WhenColumn(
        verbose_name="Created",
        seconds=False,
        attrs=heading_attrs("createdAt", "When it was created"),
    )

    class Meta(BrowseTable.Meta):  # django-tables2 reads only a class's own Meta
        pass

    def __init__(self, *args: Any, browsable: set[int], **kw: Any) -> None:
        self.browsable = browsable
        super().__init__(*args, **kw)


class RoomTable(BrowseTable):
    public_id = tables.Column(verbose_name="Room", attrs=listing_attrs(T.ROOMS, "roomId"))
    participant_count = CountColumn(
        verbose_name="Participants", attrs=listing_attrs(T.ROOMS, "participantCount", **NUM)
    )
    status = StatusColumn(attrs=listing_attrs(T.ROOMS, "status"))
    started_at = WhenColumn(verbose_name="Start", attrs=listing_attrs(T.ROOMS, "startTime"))
    ended_at = WhenColumn(verbose_name="End", attrs=listing_attrs(T.ROOMS, "endTime"))
    duration = tables.Column(
        verbose_name="Duration",
        accessor="length",
        empty_values=(None,),
        attrs=listing_attrs(T.ROOMS, "duration", **NUM),
    )

    class Meta(BrowseTable.Meta):  # django-tables2 reads only a class's own Meta
        pass

    def __init__(self, *args: Any, people: People, **kw: Any) -> None:
        self.people = people
        super().__init__(*args, **kw)
        if not people.room_ids:
            self.columns["public_id"].column.orderable = False  # codes do not sort by ids

    def render_public_id(self, value: str) -> dict[str, Any]:
        ref = self.people.room(value)
        return cell(ref, "link", url=browse_url("room", self.people.experiment_id, ref))

    def render_duration(self, value: timedelta) -> str:
        return formats.duration(value)


class ParticipantTable(BrowseTable):
    participant = tables.Column(
        verbose_name="Participant",
        order_by=("participant__public_id",),
        attrs=listing_attrs(T.PARTICIPANTS, "participantId"),
    )
    role = tables.Column(attrs=listing_attrs(T.PARTICIPANTS, "role"))
    status = StatusColumn(attrs=listing_attrs(T.PARTICIPANTS, "status"))
    joined_at = WhenColumn(verbose_name="Joined", attrs=listing_attrs(T.PARTICIPANTS, "joinedAt"))
    data = tables.Column(
        verbose_name="Data available",
        empty_values=(),
        orderable=False,
        attrs={"th": {"title": "The data types this participant has records of"}},
    )

    class Meta(BrowseTable.Meta):  # django-tables2 reads only a class's own Meta
        pass

    def __init__(
        self, *args: Any, people: People, room_id: str, roles: Callable[[str], str], **kw: Any
    ) -> None:
        self.people = people
        self.room_id = room_id
        self.roles = roles  # a role as the reader may see it (it can name a participant)
        super().__init__(*args, **kw)
        if not people.identifiers:
            self.columns["participant"].column.orderable = False

    def render_participant(self, value) -> dict[str, Any]:
        return self.people.cell(self.room_id, self.people.ref(value.public_id))

    def render_role(self, value: str) -> str:
        return self.roles(value)

    def render_data(self, record) -> dict[str, Any]:
        """The types this participant has records of, each linked to its tab of their viewer."""
        url = self.people.url(self.room_id, self.people.ref(record.participant.public_id))
        badges = [
            {"text": dt.label, "url": f"{url}?tab={dt.key}" if url else None}
            for dt in T.DATA_TYPES
            if getattr(record, f"has_{dt.key}", False)
        ]
        return cell(badges, "badges")


def configure(
    table: tables.Table, request: HttpRequest, per_page: int = SMALL_PER_PAGE
) -> list[str]:
    """Sort and page a small table from the query string with django-tables2's RequestConfig
    (an unknown sort keeps the default order, a page out of range shows the nearest one); the
    notes tell the reader what was ignored instead of failing."""
    RequestConfig(request, paginate={"per_page": per_page}).configure(table)
    notes: list[str] = []
    sort = request.GET.get("sort")
    if sort and not table.order_by:
        notes.append(f"This table cannot be sorted by “{sort}”; showing the default order.")
    raw = request.GET.get("page")
    if raw:
        try:
            number = int(raw)
        except ValueError:
            notes.append(f"“{raw}” is not a page number; showing the first page.")
        else:
            if number != table.page.number:
                shown = table.page.number
                notes.append(f"There is no page {number}; showing page {shown}, the last one.")
    return notes
