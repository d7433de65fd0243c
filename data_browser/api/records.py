"""Reading records for the API: scope resolution, filters, offset and keyset pages, identity.

The filters are the dashboard's (``data_browser.filters.record_filterset``) and the pages are
``data_browser.keyset``'s, so a query means the same thing in the API as on the page.

Every query starts from ``data_browser.access`` with the request's key, so a
key's power is its scopes intersected with its owner's memberships *now*.
Users who do not see identifiers in an experiment (anyone below the full
export right) get the codes the de-identified exports use; they address a
participant by that code, and a raw participant id is a 404 for them, so the
API cannot be used to confirm who took part.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from itertools import islice
from typing import Any

import orjson
from django.db import connection
from django.db.models import F, Min, QuerySet
from django.http import Http404, HttpRequest

from data_browser import access, copysql, counts, csvcells, keyset, media, versions
from data_browser import datatypes as T
from data_browser.copysql import IsoUtc
from data_browser.filters import record_filterset, recorded
from data_browser.identity import Policy, by_experiment
from data_browser.models import Experiment, Room

from .errors import ApiError, bad_parameter, forbidden

SCOPES = ("experiment", "room", "participant")
FORMATS = ("json", "csv", "ndjson")
DEFAULT_LIMIT = 1000
DEFAULT_SORT = "timestamp"
DEFAULT_ORDER = "asc"
STREAM_CHUNK = 5000
# What the API's own parameters mean; every other one is a record filter. ``format`` is the
# response format here, so the recordings' container-format filter is the dashboard's only.
CONTROL_PARAMETERS = frozenset(
    ("roomId", "limit", "offset", "sort", "order", "format", "cursor", "aggregationWindow")
)


@dataclass
class Params:
    """The query string, after type validation by the schema."""

    room_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    limit: int | None = None
    offset: int = 0
    sort: str | None = None
    order: str | None = None
    format: str = "json"
    cursor: str | None = None
    query_string: Mapping[str, Any] = field(default_factory=dict)  # the filters' values


@dataclass
class Selection:
    """The records of one scope that one request may read, before paging."""

    dt: T.DataType
    queryset: QuerySet
    sort: str
    order: str
    rooms: QuerySet  # the scope's rooms, whose earliest start is ``started_at``
    room: Room | None  # the one room the selection is limited to, if it is
    query: dict[str, Any]
    cursor: keyset.Cursor | None = None
    experiment_ids: list[int] = field(default_factory=list)
    # The de-identification of each experiment whose records the reader sees by code.
    policies: dict[str, Policy] = field(default_factory=dict)
    # The scope as ``data_browser.counts`` keeps it, when the selection is the whole scope
    # (no filter): its total is read from the counts instead of counted.
    counted: dict[str, Any] | None = None

    @property
    def descending(self) -> bool:
        return self.order == "desc"

    @property
    def ordering(self) -> tuple[str, str]:
        return keyset.ordering(self.sort, self.descending)

    @cached_property
    def started_at(self) -> datetime | None:
        """When the scope began (the JSON metadata's ``experimentStartedAt``); read when asked."""
        if self.room is not None:
            return self.room.started_at
        return self.rooms.aggregate(m=Min("started_at"))["m"]


def decode_cursor(token: str) -> keyset.Cursor:
    try:
        return keyset.Cursor.parse(token)
    except keyset.InvalidCursor:
        raise bad_parameter(
            "cursor",
            "is not a cursor this API issued (use metadata.pagination.nextCursor)",
            value=token,
            expected="a cursor from metadata.pagination.nextCursor",
        ) from None


MAX_ID_LENGTH = 200


def check_id(name: str, value: str) -> str:
    """Ids reach SQL: refuse what no id can be (and what PostgreSQL cannot take, NUL)."""
    if "\x00" in value or len(value) > MAX_ID_LENGTH:
        raise bad_parameter(
            name,
            f"is not an id (at most {MAX_ID_LENGTH} characters, no NUL)",
            value=value[:MAX_ID_LENGTH].replace("\x00", ""),
            expected=f"an id of at most {MAX_ID_LENGTH} characters without NUL",
        )
    return value


def _utc(name: str, value: datetime | None) -> datetime | None:
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise bad_parameter(
            name,
            "is out of the supported date range",
            value=value.isoformat(),
            expected="ISO 8601 timestamp between years 1 and 9999 in UTC",
        ) from None


def right_missing(exc: access.RightMissing) -> ApiError:
    """The 403 of a read the export right does not cover, naming the right."""
    return ApiError(
        403,
        "FORBIDDEN",
        str(exc),
        {"requiredRight": exc.needed, "exportRight": exc.held},
    )


def _readable(reader: access.Access, experiments: list[Experiment]) -> list[Experiment]:
    """The experiments whose records this read may return: every API data read is an export,
    so each needs the row-level export right (de-identified or full)."""
    allowed = []
    missing = None
    for experiment in experiments:
        try:
            reader.require_right(experiment)
        except access.RightMissing as exc:
            missing = missing or exc
        else:
            allowed.append(experiment)
    if not allowed and missing is not None:
        raise right_missing(missing)
    return allowed


def select(
    reader: access.Access, dt: T.DataType, scope: str, scope_id: str, params: Params
) -> Selection:
    """Resolve the scope (404 when it is unknown or out of reach), check the export right
    (403 naming it) and apply the filters."""
    if not reader.allows(dt.scope):
        raise forbidden(
            f"Insufficient permissions. Required: {dt.scope} (to read {dt.api_name}).",
            required=dt.scope,
            provided=list(reader.key.scopes if reader.key is not None else []),
        )
    check_id("scopeId", scope_id)
    if params.room_id is not None:
        check_id("roomId", params.room_id)
    sort = params.sort
    order = params.order
    cursor = None
    if params.cursor:
        cursor = decode_cursor(params.cursor)
        issued = "desc" if cursor.descending else "asc"
        if sort not in (None, cursor.column) or order not in (None, issued):
            raise bad_parameter(
                "cursor",
                f"was issued for sort={cursor.column}&order={issued}",
                value=params.cursor,
                expected=f"sort={cursor.column}&order={issued} (or no sort and order)",
            )
        if params.offset:
            raise bad_parameter(
                "offset",
                "cannot be combined with cursor",
                value=params.offset,
                expected="no offset when a cursor is given",
            )
        sort, order = cursor.column, issued
    sort = sort or DEFAULT_SORT
    order = order or DEFAULT_ORDER

    qs = reader.records(dt)
    room = None
    query: dict[str, Any] = {}
    if params.room_id is not None:
        room = reader.room(params.room_id)
    counted: dict[str, Any] = {}
    if scope == "experiment":
        experiment = reader.experiment(scope_id)
        if room is not None and room.experiment_id != experiment.pk:
            raise Http404("No such room in this experiment")
        experiments = _readable(reader, [experiment])
        qs = qs.filter(experiment=experiment)
        starts = reader.rooms().filter(experiment=experiment)
    elif scope == "room":
        scoped_room = reader.room(scope_id)
        if room is not None and room.pk != scoped_room.pk:
            raise bad_parameter(
                "roomId",
                "differs from the room in the path",
                value=params.room_id,
                expected=f"{scope_id} (the room in the path) or no roomId",
            )
        room = scoped_room
        experiments = _readable(reader, [room.experiment])
        qs = qs.filter(room=room)
        starts = reader.rooms().filter(pk=room.pk)
    elif scope == "participant":
        person = reader.participant(scope_id, room=room)
        experiments = _readable(reader, person.experiments)
        participant_pk = person.participant.pk
        qs = qs.filter(participant_id=participant_pk, experiment__in=experiments)
        counted["participant"] = participant_pk
        starts = reader.rooms().filter(
            experiment__in=experiments, room_participants__participant_id=participant_pk
        )
    else:  # pragma: no cover - the path schema only lets the three scopes through
        raise bad_parameter("scope", f"must be one of {', '.join(SCOPES)}")
    if room is not None:
        qs = qs.filter(room=room)
        starts = starts.filter(pk=room.pk)
        query["roomId"] = params.room_id or scope_id
        counted["room"] = room.pk

    start = _utc("startTime", params.start)
    end = _utc("endTime", params.end)
    filters = {k: v for k, v in params.query_string.items() if k not in CONTROL_PARAMETERS}
    qs, applied = _filter(dt, qs, filters)
    if start is not None:
        query["startTime"] = T.iso(start)
    if end is not None:
        query["endTime"] = T.iso(end)
    filtered = bool(applied)
    for name, value in applied.items():
        query.setdefault(name, value)
    selection = Selection(
        dt=dt,
        queryset=qs,
        sort=sort,
        order=order,
        rooms=starts,
        room=room,
        query=query,
        cursor=cursor,
        experiment_ids=[e.pk for e in experiments],
    )
    # The reader's records of the scope are all of them: every readable experiment is one
    # of the reader's memberships (``access.Access.records``).
    if not filtered and all(reader.is_member(e) for e in experiments):
        selection.counted = {**counted, "experiments": selection.experiment_ids}
    selection.policies = {
        e.public_id: reader.policy(e) for e in experiments if not reader.sees_identifiers(e)
    }
    if selection.policies:  # the filters echoed as the records are shown
        given = {k: v for k, v in query.items() if k in record_filterset(dt).base_filters}
        policies = list(selection.policies.values())
        policy = policies[0] if len(experiments) == 1 else None
        query.update(recorded(dt, given, policy))
    return selection


def _filter(dt: T.DataType, qs: QuerySet, filters: dict[str, Any]) -> tuple[QuerySet, dict]:
    """The records the type's filters leave (the dashboard's filter set; a 400 naming the
    first invalid one) and the filters that narrowed them, as given. Without any filter
    parameter there is no form to build."""
    if not filters:
        return qs, {}
    filterset = record_filterset(dt)(filters, queryset=qs)
    if not filterset.is_valid():
        name, messages = next(iter(filterset.errors.items()))
        raise bad_parameter(name, " ".join(messages))
    applied = {
        name: filters[name]
        for name, value in filterset.form.cleaned_data.items()
        if value not in (None, "")
    }
    return filterset.qs, applied


def total(sel: Selection) -> int:
    """The exact number of records in the selection: read from the counts kept with the
    records when the selection is a whole scope, counted when filters narrow it. Paging
    through a scope asks for the same total again and again: it is kept until records of the
    selection's experiments are added or deleted (``data_browser.versions``): a whole scope
    under what the counts know it by, a filtered one under its SQL."""
    if sel.counted is None:
        return versions.count(sel.queryset, sel.experiment_ids)
    return counts.kept_totals(types=[sel.dt], **sel.counted)[sel.dt.key]


@dataclass
class Page:
    rows: list[Sequence[Any]]  # values of dt.columns
    has_more: bool
    next_cursor: str | None
    position: int  # records before this page


# Deep offsets: the keys of every SPARSE_EVERY-th row of a selection are kept (built by one
# scan on the first deep request, dropped when the scope's data changes), so offset=900000
# becomes a keyset seek to the nearest mark, a short OFFSET below SPARSE_EVERY to the row
# before the page, and then the cursor's path: the cursor's cost, the rows of plain OFFSET.
SPARSE_EVERY = 1000
DEEP_OFFSET = 10 * SPARSE_EVERY  # below this, OFFSET alone is as cheap


def _sparse_index(sel: Selection) -> list[tuple[Any, int]]:
    """(sort value, pk) of the rows at positions SPARSE_EVERY - 1, 2 * SPARSE_EVERY - 1, …"""
    qs = sel.queryset.order_by(*sel.ordering).values(s=F(sel.sort), p=F("pk"))
    inner, params = qs.query.get_compiler(using=qs.db).as_sql()

    def marks() -> list[tuple[Any, int]]:
        sql = (
            f"SELECT x.s, x.p FROM (SELECT q.*, row_number() OVER () AS rn FROM ({inner}) q) x "
            "WHERE mod(x.rn, %s) = 0 ORDER BY x.rn"
        )
        with connection.cursor() as db:
            db.execute(sql, (*params, SPARSE_EVERY))
            return [tuple(row) for row in db.fetchall()]

    return versions.derived(
        f"api:sparse:{SPARSE_EVERY}", sel.experiment_ids, f"{inner}\x1f{params!r}", marks
    )


def positioned(sel: Selection, offset: int) -> tuple[Selection, int]:
    """A deep offset as the cursor of the row before it (the selection unchanged otherwise)."""
    if sel.cursor is not None or offset < DEEP_OFFSET or connection.vendor != "postgresql":
        return sel, offset
    marks = _sparse_index(sel)
    k = min(offset // SPARSE_EVERY, len(marks))
    if k == 0:
        return sel, offset
    value, pk = marks[k - 1]
    cursor = keyset.Cursor(sel.sort, sel.descending, value, pk, k * SPARSE_EVERY)
    rest = offset - cursor.position
    if rest:
        after = keyset.seek(sel.queryset, cursor).order_by(*sel.ordering)
        edge = list(after.values_list(sel.sort, "pk")[rest - 1 : rest])
        if not edge:  # past the end
            return sel, offset
        cursor = keyset.Cursor(sel.sort, sel.descending, edge[0][0], edge[0][1], offset)
    return replace(sel, cursor=cursor), 0


def fetch(sel: Selection, limit: int, offset: int = 0) -> Page:
    """One page, found by offset or (cheaply, at any depth) by the selection's keyset cursor."""
    sel, offset = positioned(sel, offset)
    found = keyset.page(
        sel.queryset,
        sel.dt.columns,
        sel.sort,
        sel.descending,
        limit,
        after=sel.cursor,
        offset=offset,
    )
    next_cursor = found.next.sign() if found.next else None
    return Page(found.rows, found.next is not None, next_cursor, found.position)


def _from_position(sel: Selection) -> QuerySet:
    """The selection in its order from the request's cursor on (the start without one)."""
    qs = sel.queryset if sel.cursor is None else keyset.seek(sel.queryset, sel.cursor)
    return qs.order_by(*sel.ordering)


def copy_possible(sel: Selection) -> bool:
    """COPY serves identifier-keeping CSVs of types whose every cell the database can make."""
    return connection.vendor == "postgresql" and not sel.policies and copysql.copy_supported(sel.dt)


def ordered(sel: Selection, offset: int = 0) -> QuerySet:
    """The selection in its order from the request's position (cursor or offset) on."""
    sel, offset = positioned(sel, offset)
    qs = _from_position(sel)
    return qs[offset:] if offset else qs


def next_cursor(sel: Selection, limit: int, offset: int = 0) -> str | None:
    """The cursor after a page of ``limit`` rows, or None on the last page (two index reads)."""
    sel, offset = positioned(sel, offset)
    start = 0 if sel.cursor is not None else offset
    edge = list(ordered(sel).values_list(sel.sort, "pk")[start + limit - 1 : start + limit + 1])
    if len(edge) < 2:
        return None
    position = (sel.cursor.position if sel.cursor is not None else offset) + limit
    return keyset.Cursor(sel.sort, sel.descending, edge[0][0], edge[0][1], position).sign()


def json_possible(sel: Selection) -> bool:
    """PostgreSQL builds the page's JSON itself unless a record needs a media link signed
    (links are made per request); a de-identified page, which has no links, is then rewritten
    by its policy (``deidentified_json``): no row passes through the ORM either way."""
    if connection.vendor != "postgresql":
        return False
    links = any(f.kind == T.URL for f in sel.dt.fields)
    return not links or len(sel.policies) == len(sel.experiment_ids)


def coded_in_database(sel: Selection) -> bool:
    """Whether PostgreSQL codes the record ids of the selection (``identity.RecordCode``)
    and leaves its names and links empty: every experiment of it is read by code."""
    return (
        connection.vendor == "postgresql"
        and bool(sel.policies)
        and len(sel.policies) == len(sel.experiment_ids)
        and all(p.in_database for p in sel.policies.values())
    )


def deidentified_json(sel: Selection, data: bytes) -> bytes:
    """A JSON page from ``fetch_json`` as the reader may see it."""
    if not sel.policies:
        return data
    records = orjson.loads(data)
    cleaned = by_experiment(sel.policies, sel.dt, records, ids_coded=coded_in_database(sel))
    return orjson.dumps(cleaned)


def _json_columns(sel: Selection) -> dict[str, Any]:
    """The page's columns for ``json_agg``: record ids coded and names and links left empty
    by the database when it can (``coded_in_database``), the rest as stored."""
    coded = coded_in_database(sel)
    if coded:
        policy = next(iter(sel.policies.values()))
        made = policy.columns(sel.dt, experiment=F("experiment__public_id"))
    columns = {}
    for i, f in enumerate(sel.dt.fields):
        if coded and f.deidentify in (T.RECORD_CODE, T.DROP):
            columns[f"f{i}"] = made[i]
        elif f.kind == T.DATETIME:
            columns[f"f{i}"] = IsoUtc(F(f.column))
        else:
            columns[f"f{i}"] = F(f.column)
    return columns


# What PostgreSQL makes of a page's rows (``r``, each under the API's names): the JSON array
# of the JSON pages, or NDJSON's lines (one record a line; JSON strings escape newlines).
JSON_ARRAY = "json_agg(r)"
NDJSON_LINES = "string_agg(to_json(r)::text, E'\\n')"


def aggregated(
    page: QuerySet,
    names: Sequence[str],
    aggregate: str,
    limit: int,
    keys: Sequence[str] = (),
    also: Sequence[tuple[str, Sequence[Any]]] = (),
) -> tuple[Any, ...]:
    """One query: the first ``limit`` rows of ``page`` (selected as ``values(f0=…, f1=…)``,
    in its order, sliced to one row more) as ``aggregate`` under ``names``, as text; the
    number of rows ``page`` holds (``limit + 1`` when there are more); the values of ``keys``
    (more aliases of ``page``) in its last row within the limit; and the value of each
    expression ``also`` (SQL, params: a scalar subquery, which PostgreSQL runs only if the
    value is used, or one over that ``count(*)``), asked in the same round trip."""
    inner, params = page.query.get_compiler(using=page.db).as_sql()
    columns = ", ".join(f'p.f{i} AS "{name}"' for i, name in enumerate(names))
    last = "".join(f", max(p.{key}) FILTER (WHERE p.rn = %s)" for key in keys)
    extra = "".join(f", {sql}" for sql, _params in also)
    sql = (
        f"SELECT ({aggregate} FILTER (WHERE p.rn <= %s))::text, count(*){last}{extra} "
        f"FROM (SELECT q.*, row_number() OVER () AS rn FROM ({inner}) q) p, "
        f"LATERAL (SELECT {columns}) r"
    )
    extra_params = [value for _sql, values in also for value in values]
    with connection.cursor() as db:
        db.execute(sql, (limit, *[limit] * len(keys), *extra_params, *params))
        return db.fetchone()


@dataclass
class JsonPage:
    data: bytes  # the records, built by the database: a JSON array, or NDJSON lines
    returned: int
    has_more: bool
    next_cursor: str | None
    position: int
    started_at: datetime | None = None  # the selection's ``started_at``, when asked


def _fetch_built(
    sel: Selection, limit: int, offset: int, aggregate: str, with_start: bool = False
) -> JsonPage:
    sel, offset = positioned(sel, offset)
    cursor = sel.cursor
    qs = _from_position(sel)
    start = 0 if cursor is not None else offset
    page = qs.values(**_json_columns(sel), k_pk=F("pk"), k_sort=F(sel.sort))
    also = []
    if with_start and sel.room is None:  # the rooms' earliest start, one index read
        rooms = sel.rooms.order_by().values("started_at")
        rooms_sql, rooms_params = rooms.query.get_compiler(using=rooms.db).as_sql()
        also.append((f"(SELECT min(s.started_at) FROM ({rooms_sql}) s)", rooms_params))
    data, fetched, last_pk, last_sort, *asked = aggregated(
        page[start : start + limit + 1],
        sel.dt.field_names,
        aggregate,
        limit,
        ("k_pk", "k_sort"),
        also,
    )
    started_at = None
    if with_start:
        started_at = asked[0] if asked else sel.started_at
    position = cursor.position if cursor is not None else offset
    has_more = fetched > limit
    returned = min(fetched, limit)
    next_cursor = (
        keyset.Cursor(sel.sort, sel.descending, last_sort, last_pk, position + returned).sign()
        if has_more
        else None
    )
    return JsonPage((data or "").encode(), returned, has_more, next_cursor, position, started_at)


def fetch_json(sel: Selection, limit: int, offset: int = 0, with_start: bool = False) -> JsonPage:
    """The same page as ``fetch`` + ``to_api``, serialised by PostgreSQL, so no row passes
    through Python: ``json_agg`` of the page's rows under the API's names (ISO timestamps
    made by the database); the one row after the page tells whether there is more, and the
    page's last keys make the cursor. ``with_start``: the selection's ``started_at`` too,
    asked in the same statement."""
    page = _fetch_built(sel, limit, offset, JSON_ARRAY, with_start)
    return replace(page, data=page.data or b"[]")


def fetch_lines(sel: Selection, limit: int, offset: int = 0) -> JsonPage:
    """The page of ``fetch_json`` as NDJSON: the same records, one a line."""
    page = _fetch_built(sel, limit, offset, NDJSON_LINES)
    return replace(page, data=page.data + b"\n") if page.data else page


def _built_pages(
    sel: Selection, offset: int, limit: int | None, fetch: Callable[..., JsonPage]
) -> Iterator[JsonPage]:
    """The pages ``fetch`` builds of the selection from the given position on (at most
    ``limit`` records), in keyset chunks of ``STREAM_CHUNK``."""
    current, start, remaining = sel, offset, limit
    while remaining is None or remaining > 0:
        size = STREAM_CHUNK if remaining is None else min(STREAM_CHUNK, remaining)
        page = fetch(current, size, start)
        yield page
        if not page.has_more or page.next_cursor is None:
            return
        if remaining is not None:
            remaining -= page.returned
        current, start = replace(sel, cursor=decode_cursor(page.next_cursor)), 0


def iter_lines(sel: Selection, offset: int = 0) -> Iterator[bytes]:
    """Every record of an identified selection (``json_possible``, no policies) from the
    given position on as NDJSON built by PostgreSQL, in keyset chunks."""
    for page in _built_pages(sel, offset, None, fetch_lines):
        yield page.data


def iter_rows(sel: Selection, offset: int = 0) -> Iterator:
    """Every row of the selection from the given position on, in keyset chunks (constant
    memory, no long-lived server-side cursor)."""
    sel, offset = positioned(sel, offset)
    cursor = sel.cursor
    while True:
        chunk = keyset.page(
            sel.queryset,
            sel.dt.columns,
            sel.sort,
            sel.descending,
            STREAM_CHUNK,
            after=cursor,
            offset=offset,
        )
        yield from chunk.rows
        if chunk.next is None:
            return
        cursor, offset = chunk.next, 0


def iter_deidentified(sel: Selection, offset: int = 0, limit: int | None = None) -> Iterator[dict]:
    """The records of a de-identified CSV from the given position on (at most ``limit``):
    keyset chunks of JSON built by PostgreSQL as for the JSON pages, each rewritten by the
    policies (no row passes through the ORM)."""
    ids_coded = coded_in_database(sel)
    for page in _built_pages(sel, offset, limit, fetch_json):
        records = orjson.loads(page.data)
        yield from by_experiment(sel.policies, sel.dt, records, ids_coded=ids_coded)


def rows_possible(sel: Selection) -> bool:
    """A de-identified CSV of one experiment read by code: its rows made by PostgreSQL
    (``identity.Policy.columns``) and coded and scrubbed as rows (``iter_cells``)."""
    return coded_in_database(sel) and len(sel.policies) == 1


def iter_cells(sel: Selection, offset: int = 0, limit: int | None = None) -> Iterator[list]:
    """The CSV cells of a de-identified selection (``rows_possible``) from the given
    position on (at most ``limit`` rows), in keyset chunks: the cells ``csvcells.rows``
    writes of the records ``iter_deidentified`` gives."""
    policy = next(iter(sel.policies.values()))
    columns = policy.columns(sel.dt)
    current, start, remaining = sel, offset, limit
    current, start = positioned(current, start)
    cursor = current.cursor
    while remaining is None or remaining > 0:
        size = STREAM_CHUNK if remaining is None else min(STREAM_CHUNK, remaining)
        chunk = keyset.page(
            sel.queryset, columns, sel.sort, sel.descending, size, after=cursor, offset=start
        )
        yield from csvcells.deidentified_rows(sel.dt, policy, chunk.rows)
        if chunk.next is None:
            return
        if remaining is not None:
            remaining -= len(chunk.rows)
        cursor, start = chunk.next, 0


def to_api(sel: Selection, rows: Iterator | list, request: HttpRequest) -> Iterator[dict]:
    """API records, with signed media links, de-identified where the user sees no identifiers
    (in chunks: each chunk reads the people of its rooms once)."""
    records = T.to_records(sel.dt, rows, lambda name: media.signed_url(request, name))
    if not sel.policies:
        return records
    return _deidentified(sel, records)


def _deidentified(sel: Selection, records: Iterator[dict]) -> Iterator[dict]:
    while chunk := list(islice(records, STREAM_CHUNK)):
        yield from by_experiment(sel.policies, sel.dt, chunk)
