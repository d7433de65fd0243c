"""The tables of the browse pages.

Three small tables (experiments, rooms, participants) sort and page in the database with
django-tables2's own machinery. The record tables are one generic table built from the
data-type registry; their rows arrive already sorted and sliced by a keyset query (so a page
ten thousand rows deep costs what the first one does), and the table only renders them.
"""

from __future__ import annotations

import copy
import html
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from typing import Any
from urllib.parse import urlencode

import django_tables2 as tables
from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, QueryDict
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django_tables2.data import TableListData
from django_tables2.utils import OrderBy

from . import datatypes as T
from .identity import participant_code, room_code

PER_PAGE = 50
SMALL_PER_PAGE = 25
KEYSET_COLUMNS = ("onset", "timestamp")


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

    def link(self, room_id: str, ref: str) -> SafeString:
        url, label = self.url(room_id, ref), esc(self.label(ref))
        if url is None:
            return mark_safe(f'<span class="code">{label}</span>')  # noqa: S308 - escaped
        return mark_safe(f'<a class="code" href="{esc(url)}">{label}</a>')  # noqa: S308 - escaped


@lru_cache(maxsize=4096)
def browse_url(name: str, *args: str) -> str:
    """``reverse`` costs more than a table cell; a page links the same few rooms and people."""
    return reverse(f"data_browser:{name}", args=args)


# Cell formatting shared by the record columns.


def human_bytes(n: int | None) -> str:
    if n is None:
        return "—"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def human_duration(ms: int | float | None) -> str:
    if ms is None:
        return "—"
    seconds = round(ms / 1000)
    sign = "-" if seconds < 0 else ""
    h, rest = divmod(abs(seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{sign}{h}:{m:02d}:{s:02d}" if h else f"{sign}{m}:{s:02d}"


def esc(value: Any) -> str:
    """Django's ``escape`` (it is ``html.escape``) without its lazy-string wrapper and SafeString:
    a record page escapes about a thousand values."""
    return html.escape(str(value))


def onset_html(ms: int) -> str:
    """Negative onsets (before the room started) stay visibly negative."""
    if ms < 0:
        return (
            f'<span class="negative" title="{human_duration(-ms)} before the room started">'
            f"-{-ms:,} ms</span>"
        )
    return f'<span title="{human_duration(ms)} after the start">{ms:,} ms</span>'


def json_html(value: Any) -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return f'<pre class="json">{esc(text)}</pre>'


def media_html(url: str) -> str:
    url = esc(url)
    return (
        '<details class="media"><summary>Play</summary>'
        f'<video controls preload="none" src="{url}"></video></details>'
        f'<a href="{url}" download>Download</a>'
    )


# One cell: (value, record, table) -> escaped HTML; value is never None or "".
Cell = Callable[[Any, dict, "RecordTable"], str]


def cell_html(f: T.Field) -> Cell:
    """How a field's cells read: onsets and durations with their clock time, JSON pretty-printed,
    people and rooms as links, sizes in units; everything escaped."""
    if f.kind == T.JSON:
        return lambda v, r, t: json_html(v)
    if f.column == "onset":
        return lambda v, r, t: onset_html(v)
    if f.kind == T.URL:
        return lambda v, r, t: media_html(v)
    if f.kind == T.PARTICIPANT:
        return lambda v, r, t: t.people.link(r[t.room_field], v)
    if f.kind == T.PARTICIPANT_LIST:
        return lambda v, r, t: esc(", ".join(t.people.label(p) for p in v)) or "—"
    if f.kind == T.ROOM:
        return lambda v, r, t: (
            f'<a href="{esc(browse_url("room", t.people.experiment_id, v))}">{esc(v)}</a>'
        )
    if f.name == "fileSize":
        return lambda v, r, t: f'<span title="{v} bytes">{human_bytes(v)}</span>'
    if f.unit == "ms" and f.kind == T.INT:
        return lambda v, r, t: f'<span title="{human_duration(v)}">{v:,} ms</span>'
    if f.kind == T.TEXT:
        return lambda v, r, t: f'<div class="text">{esc(v)}</div>'
    return lambda v, r, t: esc(v)


class FieldColumn(tables.Column):
    """A column for one registry field; the header is the API name (as in exports)."""

    def __init__(self, f: T.Field, **kw: Any) -> None:
        self.field = f
        self.cell = cell_html(f)
        attrs = {"th": {"title": f.meaning + (f" ({f.unit})" if f.unit else "")}}
        if f.kind in (T.INT, T.FLOAT):
            attrs["td"] = {"class": "num"}
        super().__init__(
            accessor=tables.A(f.name),
            verbose_name=f.name,
            attrs=attrs,
            empty_values=(None, ""),
            **kw,
        )

    def __deepcopy__(self, memo: dict) -> FieldColumn:
        """A table copies its class's columns on every instantiation so that it may change them;
        record tables never do, and fourteen deep copies cost a millisecond per page."""
        return copy.copy(self)


class PreparedRows(TableListData):
    """Rows the database already sorted and sliced: the table labels the order, never re-sorts."""

    def order_by(self, aliases) -> None:
        return None


class BrowseTable(tables.Table):
    class Meta:
        template_name = "data_browser/_table.html"
        attrs = {"class": "data-table"}
        orderable = True


class RecordTable(BrowseTable):
    """Rendered in one pass in Python (``as_html``), with the markup of ``_table.html``:
    django-tables2's template, per-cell signature inspection and one ``querystring`` tag per
    header cost several times the query behind the page."""

    people: People
    room_field: str

    def __init__(self, rows: list[dict], *, people: People, order_by: str, **kw: Any) -> None:
        self.people = people
        super().__init__(PreparedRows(rows), order_by=order_by, **kw)

    def as_html(self, request: HttpRequest) -> SafeString:
        body = self.body()
        if not body:
            matching = " match these filters" if request.GET else ""
            body = (
                f'<tr><td colspan="{len(self.columns)}" class="empty">'
                f"No records{matching}.</td></tr>"
            )
        return mark_safe(  # noqa: S308 - every value went through esc
            '<div class="table-container"><table class="data-table">'
            f"{self.head(request.GET)}<tbody>{body}</tbody></table></div>"
        )

    def head(self, query: QueryDict) -> str:
        """Header cells with their sort links (the query string with the new sort and no page
        position), as django-tables2's ``querystring`` tag writes them."""
        params = dict(query.lists())
        for key in ("page", "after", "before"):
            params.pop(key, None)
        cells = []
        for bc in self.columns:
            title = esc(bc.column.attrs["th"]["title"])
            if not bc.orderable:
                cells.append(f'<th title="{title}">{esc(bc.header)}</th>')
                continue
            ordered = bc.is_ordered
            css = (
                f"{'desc' if bc.order_by_alias.is_descending else 'asc'} orderable"
                if ordered
                else "orderable"
            )
            params["sort"] = [bc.order_by_alias.next]
            href = esc("?" + urlencode(params, doseq=True))
            cells.append(
                f'<th title="{title}" class="{css}">'
                f'<a href="{href}" hx-get="{href}">{esc(bc.header)}</a></th>'
            )
        return f"<thead><tr>{''.join(cells)}</tr></thead>"

    def body(self) -> str:
        columns = []
        for bc in self.columns:
            css = bc.column.attrs.get("td", {}).get("class", "")
            columns.append((bc.name, bc.column.cell, f'<td class="{css}">' if css else "<td>"))
        out = []
        for record in self.data:
            cells = []
            for name, cell, td in columns:
                value = record.get(name)
                cells.append(
                    f"{td}{'—' if value is None or value == '' else cell(value, record, self)}</td>"
                )
            out.append("<tr>" + "".join(cells) + "</tr>")
        return "".join(out)


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
    names = {f.name for f in dt.fields if f.column in KEYSET_COLUMNS}
    if level != "experiment":
        unsortable = {T.JSON, T.URL, T.PARTICIPANT_LIST, T.NAME}
        if not identifiers:
            unsortable.add(T.PARTICIPANT)
        names |= {f.name for f in dt.fields if f.kind not in unsortable}
    return names


def record_table(dt: T.DataType, level: str, identifiers: bool) -> type[RecordTable]:
    return _record_table(dt.key, level, identifiers)


@cache
def _record_table(key: str, level: str, identifiers: bool) -> type[RecordTable]:
    dt = T.BY_KEY[key]
    orderable = orderable_columns(dt, level, identifiers)
    columns = {
        f.name: FieldColumn(f, orderable=f.name in orderable)
        for f in visible_fields(dt, level, identifiers)
    }
    room_field = next(f.name for f in dt.fields if f.kind == T.ROOM)
    attrs: dict[str, Any] = {**columns, "room_field": room_field}
    attrs["Meta"] = type("Meta", (RecordTable.Meta,), {"sequence": tuple(columns)})
    return type(f"{dt.model.__name__}Table", (RecordTable,), attrs)


def default_sort(dt: T.DataType) -> str:
    return next(f.name for f in dt.fields if f.column == "onset")


# Keyset pagination of the record tables.


@dataclass(frozen=True)
class Cursor:
    value: int | datetime
    pk: int

    def __str__(self) -> str:
        value = self.value.isoformat() if isinstance(self.value, datetime) else self.value
        return f"{value},{self.pk}"


def parse_cursor(raw: str, column: str) -> Cursor | None:
    value, sep, pk = raw.rpartition(",")
    if not sep:
        return None
    try:
        if column == "timestamp":
            parsed: int | datetime = datetime.fromisoformat(value)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
        else:
            parsed = int(value)
        return Cursor(parsed, int(pk))
    except (ValueError, OverflowError):
        return None


@dataclass
class KeysetPage:
    rows: list[Sequence[Any]]
    next: Cursor | None
    previous: Cursor | None
    past_end: bool = False


def keyset_page(
    qs: QuerySet,
    column: str,
    *,
    descending: bool,
    after: Cursor | None = None,
    before: Cursor | None = None,
    from_end: bool = False,
    per_page: int = PER_PAGE,
) -> KeysetPage:
    """One page of ``qs`` (a ``values_list`` whose last two items are ``column`` and ``id``),
    sorted by (column, id): after ``after``, before ``before``, or the last rows.

    The cursor condition repeats ``column >= value`` on its own so that the index on
    (scope, column, id) is entered at the cursor instead of walked from the start.
    """
    forward = before is None and not from_end
    cursor = after if forward else before
    walk_desc = descending if forward else not descending
    if cursor is not None:
        op, edge = ("lt", "lte") if walk_desc else ("gt", "gte")
        qs = qs.filter(**{f"{column}__{edge}": cursor.value}).filter(
            Q(**{f"{column}__{op}": cursor.value}) | Q(**{f"id__{op}": cursor.pk})
        )
    order = (f"-{column}", "-id") if walk_desc else (column, "id")
    rows = list(qs.order_by(*order)[: per_page + 1])
    more = len(rows) > per_page
    rows = rows[:per_page]
    if not forward:
        rows.reverse()
    if not rows:
        return KeysetPage([], None, None, past_end=from_end)

    def at(row: Sequence[Any]) -> Cursor:
        return Cursor(row[-2], row[-1])

    if forward:
        return KeysetPage(rows, at(rows[-1]) if more else None, at(rows[0]) if cursor else None)
    return KeysetPage(
        rows,
        None if from_end else at(rows[-1]),
        at(rows[0]) if more else None,
        past_end=from_end,
    )


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


def page_records(qs: QuerySet, column: str, sort: str, query: QueryDict) -> RecordPages:
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
    if column not in KEYSET_COLUMNS:
        return _numbered(qs, column, descending, query.get("page") or "1", link, notes)
    cursors: dict[str, Cursor] = {}
    for key in ("after", "before"):
        if key in query:
            cursor = parse_cursor(query[key], column)
            if cursor is None:
                notes.append("That page link is not valid (any more); showing the first page.")
            else:
                cursors[key] = cursor
            break
    page = keyset_page(qs, column, descending=descending, **cursors)
    if not page.rows and cursors:
        notes.append("There are no rows past that point; showing the last rows.")
        page = keyset_page(qs, column, descending=descending, from_end=True)
    return RecordPages(
        page.rows,
        notes,
        next=link(after=str(page.next)) if page.next else None,
        previous=link(before=str(page.previous)) if page.previous else None,
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


class ExperimentTable(BrowseTable):
    name = tables.Column(verbose_name="Experiment")
    public_id = tables.Column(verbose_name="Id")
    status = tables.Column()
    participant_count = tables.Column(verbose_name="Participants", attrs={"td": {"class": "num"}})
    created_at = tables.DateTimeColumn(verbose_name="Created", format="Y-m-d")

    def __init__(self, *args: Any, browsable: set[int], **kw: Any) -> None:
        self.browsable = browsable
        super().__init__(*args, **kw)

    def render_name(self, value: str, record) -> SafeString:
        if record.pk not in self.browsable:
            return format_html(
                '{} <span class="muted" title="Lab admins browse data through a membership">'
                "(no membership)</span>",
                value,
            )
        url = reverse("data_browser:experiment", args=[record.public_id])
        return format_html('<a href="{}">{}</a>', url, value)

    def render_status(self, value: str, record) -> SafeString:
        return status_badge(record.status, record.get_status_display())


def status_badge(status: str, label: str) -> SafeString:
    return format_html('<span class="badge status-{}">{}</span>', status, label)


class RoomTable(BrowseTable):
    public_id = tables.Column(verbose_name="Room")
    participant_count = tables.Column(verbose_name="Participants", attrs={"td": {"class": "num"}})
    status = tables.Column()
    started_at = tables.DateTimeColumn(verbose_name="Start", format="Y-m-d H:i:s")
    duration = tables.Column(verbose_name="Duration", accessor="length", empty_values=(None,))

    def __init__(self, *args: Any, people: People, **kw: Any) -> None:
        self.people = people
        super().__init__(*args, **kw)
        if not people.room_ids:
            self.columns["public_id"].column.orderable = False  # codes do not sort by ids

    def render_public_id(self, value: str, record) -> SafeString:
        ref = self.people.room(value)
        url = reverse("data_browser:room", args=[self.people.experiment_id, ref])
        return format_html('<a href="{}">{}</a>', url, ref)

    def render_status(self, value: str, record) -> SafeString:
        return status_badge(record.status, record.get_status_display())

    def render_duration(self, value: timedelta) -> str:
        return human_duration(value.total_seconds() * 1000)


class ParticipantTable(BrowseTable):
    participant = tables.Column(verbose_name="Participant", order_by=("participant__public_id",))
    role = tables.Column()
    status = tables.Column()
    data = tables.Column(verbose_name="Data available", empty_values=(), orderable=False)

    def __init__(self, *args: Any, people: People, room_id: str, **kw: Any) -> None:
        self.people = people
        self.room_id = room_id
        super().__init__(*args, **kw)
        if not people.identifiers:
            self.columns["participant"].column.orderable = False

    def render_participant(self, value, record) -> SafeString:
        return self.people.link(self.room_id, self.people.ref(value.public_id))

    def render_status(self, value: str, record) -> SafeString:
        return status_badge(record.status, record.get_status_display())

    def render_data(self, record) -> SafeString | str:
        present = [dt for dt in T.DATA_TYPES if getattr(record, f"has_{dt.key}", False)]
        if not present:
            return mark_safe('<span class="muted">no data</span>')
        url = self.people.url(self.room_id, self.people.ref(record.participant.public_id))
        if url is None:
            labels = ((d.label,) for d in present)
            return format_html_join(" ", '<span class="badge">{}</span>', labels)
        return format_html_join(
            " ",
            '<a class="badge" href="{}?tab={}">{}</a>',
            ((url, d.key, d.label) for d in present),
        )


def configure(
    table: tables.Table, request: HttpRequest, per_page: int = SMALL_PER_PAGE
) -> list[str]:
    """Sort and page a small table from the query string; bad values become notes to show
    and the nearest valid view, never an error."""
    notes: list[str] = []
    sort = request.GET.get("sort", "")
    if sort:
        name = OrderBy(sort).bare
        if name in table.columns and table.columns[name].orderable:
            table.order_by = sort
        else:
            notes.append(f"This table cannot be sorted by “{sort}”; showing the default order.")
    raw = request.GET.get("page", "1") or "1"
    try:
        number = int(raw)
    except ValueError:
        notes.append(f"“{raw}” is not a page number; showing the first page.")
        number = 1
    try:
        table.paginate(page=max(number, 1), per_page=per_page)
    except (EmptyPage, PageNotAnInteger):
        last = table.paginator.num_pages
        notes.append(f"There is no page {number}; showing page {last}, the last one.")
        table.paginate(page=last, per_page=per_page)
    return notes
