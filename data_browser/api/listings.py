"""The later edition's rooms and participants endpoints: who took part where, and when.

Both read with the scope of events (as the page says), at the experiment and the room
scope, through ``data_browser.access`` like every data endpoint: an unknown or unreachable
id is a 404, and since they list people they need the row-level export right like record
reads (aggregate and none get a 403). Below the full right, participant ids are the codes
of ``identity.participant_code`` (the codes every other answer uses) and names and emails
are left out; a sort by participant id then sorts by code, so the order tells nothing about
the ids either.

For the full right on PostgreSQL the JSON page is built by the database (``_built_page``),
its total and earliest start asked in the same statement; de-identified pages stay in
Python, where the codes are made and the roles scrubbed with the room's people.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from django.conf import settings
from django.db import connection
from django.db.models import (
    BigIntegerField,
    Case,
    CharField,
    Count,
    F,
    Func,
    Min,
    QuerySet,
    Value,
    When,
)
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Field, Query, Schema
from pydantic import ConfigDict, create_model

from data_browser import access
from data_browser import datatypes as T
from data_browser.copysql import IsoUtc
from data_browser.identity import Policy
from data_browser.models import Experiment, RoomParticipant

from . import errors, records
from .schemas import MAX_OFFSET, Metadata, record_schema
from .views import ERRORS, NDJSON, VERSION, api, envelope, stream

# The listings' columns: the path of each stored one, None for the scope's experiment id, which
# every row shares and is selected as a constant instead of a join (``_selected``).
ROOM_COLUMNS: dict[str, str | None] = {
    "roomId": "public_id",
    "experimentId": None,
    "status": "status",
    "startTime": "started_at",
    "endTime": "ended_at",
    "participantCount": "participant_count",
}
PARTICIPANT_COLUMNS: dict[str, str | None] = {
    "participantId": "participant__public_id",
    "experimentId": None,
    "roomId": "room__public_id",
    "role": "role",
    "status": "status",
    "joinedAt": "joined_at",
    "completedAt": "completed_at",
    "name": "participant__display_name",
    "email": "participant__email",
}


def _selected(columns: dict[str, str | None], sc: Scope) -> dict[str, Any]:
    """What to select for ``columns`` of ``sc``, in their order: the stored ones by path, the
    experiment id as the scope's."""
    experiment = Value(sc.experiment.public_id, output_field=CharField())
    return {name: experiment if path is None else path for name, path in columns.items()}


class ListingParams(Schema):
    model_config = ConfigDict(extra="ignore")

    limit: int = Field(
        None,
        ge=1,
        le=settings.API_MAX_LIMIT,
        description=f"Max records (default {records.DEFAULT_LIMIT}); csv and ndjson without "
        "limit hold every record",
    )
    offset: int = Field(0, ge=0, le=MAX_OFFSET, description="Skip records for pagination")
    order: Literal["asc", "desc"] = Field(None, description="Sort order (default asc)")
    format: Literal["json", "csv", "ndjson"] = Field("json", description="Response format")


def _params_schema(listing: T.Listing) -> type[Schema]:
    sort = (
        Literal[listing.sorts],
        Field(None, description=f"Sort field (default {listing.sorts[0]})"),
    )
    name = listing.api_name.capitalize() + "Params"
    return create_model(name, __base__=ListingParams, sort=sort)


def _page_schema(listing: T.Listing) -> type[Schema]:
    data_type = T.DataType(
        key=listing.api_name,
        api_name=listing.api_name,
        label=listing.label,
        model=None,  # type: ignore[arg-type]
        scope=listing.scope,
        fields=listing.fields,
        description=listing.description,
    )
    record = record_schema(data_type)
    return create_model(
        listing.api_name.capitalize() + "Page",
        __base__=Schema,
        status=(Literal["success"], ...),
        data=(list[record], ...),
        metadata=(Metadata, ...),
    )


@dataclass
class Scope:
    experiment: Experiment
    rooms: QuerySet
    participants: QuerySet  # the rooms' participants, restricted through the room join
    deidentified: bool
    policy: Policy  # how the reader sees the experiment's participants and rooms


def _scope(request: HttpRequest, listing: T.Listing, scope: str, scope_id: str) -> Scope:
    reader = access.for_request(request)
    if not reader.allows(listing.scope):
        raise errors.forbidden(
            f"Insufficient permissions. Required: {listing.scope} (to read {listing.api_name}).",
            required=listing.scope,
            provided=list(reader.key.scopes if reader.key is not None else []),
        )
    records.check_id("scopeId", scope_id)
    if scope == "experiment":
        experiment = reader.experiment(scope_id)
        rooms = reader.rooms().filter(experiment=experiment)
        participants = reader.room_participants().filter(room__experiment=experiment)
    else:
        room = reader.room(scope_id)
        experiment = room.experiment
        rooms = reader.rooms().filter(pk=room.pk)
        participants = reader.room_participants().filter(room=room)
    try:
        reader.require_right(experiment)
    except access.RightMissing as exc:
        raise records.right_missing(exc) from None
    return Scope(
        experiment,
        rooms,
        participants,
        deidentified=not reader.sees_identifiers(experiment),
        policy=reader.policy(experiment),
    )


def _ordering(column: str, order: str) -> list[Any]:
    if order == "desc":
        return [F(column).desc(nulls_last=True), "-pk"]
    return [F(column).asc(nulls_last=True), "pk"]


def _ms(start: Any, end: Any) -> int | None:
    return None if start is None or end is None else round((end - start).total_seconds() * 1000)


class Milliseconds(Func):
    """``_ms`` made by PostgreSQL: the same float of seconds times 1000, rounded half to even
    as Python's ``round`` (``rint``), so both paths give the same duration."""

    arg_joiner = " - "
    template = "round(extract(epoch FROM %(expressions)s)::float8 * 1000)::bigint"
    output_field = BigIntegerField()


# The listings' columns that are not stored, as PostgreSQL makes them (``_built_page``).
MADE = {"duration": Milliseconds(F("ended_at"), F("started_at"))}


def _room_rows(sc: Scope) -> QuerySet:
    return sc.rooms.annotate(participant_count=Count("room_participants"))


def _participant_rows(sc: Scope) -> QuerySet:
    return sc.participants.annotate(
        completed_at=Case(When(status=RoomParticipant.Status.COMPLETED, then=F("room__ended_at")))
    )


def _rooms(sc: Scope, sort: str, order: str) -> tuple[QuerySet, Any]:
    qs = _room_rows(sc).order_by(*_ordering(ROOM_COLUMNS[sort], order))
    qs = qs.values_list(*_selected(ROOM_COLUMNS, sc).values())

    def to_records(rows: Iterable[tuple]) -> Iterable[dict]:
        for room_id, exp_id, status, start, end, count in rows:
            yield {
                "roomId": sc.policy.room(room_id),
                "experimentId": exp_id,
                "status": status,
                "startTime": T.iso(start),
                "endTime": T.iso(end),
                "duration": _ms(start, end),
                "participantCount": count,
            }

    if sc.deidentified and sort == "roomId":
        # Sorted by code, in Python: the database's order of raw ids would tell about them.
        everything = sorted(
            to_records(qs.order_by("pk")), key=lambda r: r["roomId"], reverse=order == "desc"
        )
        return everything, lambda recs: recs
    return qs, to_records


def _participants(sc: Scope, sort: str, order: str) -> tuple[Any, Any]:
    qs = _participant_rows(sc).values_list(*_selected(PARTICIPANT_COLUMNS, sc).values())
    names = list(PARTICIPANT_COLUMNS)

    def to_records(rows: Iterable[tuple]) -> Iterable[dict]:
        for row in rows:
            record = dict(zip(names, row, strict=True))
            record["joinedAt"] = T.iso(record["joinedAt"])
            record["completedAt"] = T.iso(record["completedAt"])
            if sc.deidentified:
                record["participantId"] = sc.policy.participant(record["participantId"])
                record["role"] = sc.policy.room_label(record["roomId"], record["role"])
                record["roomId"] = sc.policy.room(record["roomId"])
                record["name"] = record["email"] = None
            yield record

    if sc.deidentified and sort == "participantId":
        # Sorted by code, in Python: the database's order of raw ids would tell about them.
        everything = sorted(
            to_records(qs.order_by("pk")),
            key=lambda r: r["participantId"],
            reverse=order == "desc",
        )
        return everything, lambda recs: recs
    return qs.order_by(*_ordering(PARTICIPANT_COLUMNS[sort], order)), to_records


@dataclass
class ListingPage:
    data: bytes  # the JSON array of records
    returned: int
    has_more: bool
    total: int
    started_at: Any  # the earliest start of the scope's rooms


def _python_page(
    listing: T.Listing, sc: Scope, sort: str, order: str, offset: int, limit: int
) -> ListingPage:
    rows, to_records = (_rooms if listing is T.ROOMS else _participants)(sc, sort, order)
    page = list(to_records(rows[offset : offset + limit + 1]))
    has_more = len(page) > limit
    page = page[:limit]
    return ListingPage(
        orjson.dumps(page),
        len(page),
        has_more,
        len(rows) if isinstance(rows, list) else rows.count(),
        sc.rooms.aggregate(m=Min("started_at"))["m"],
    )


def _sql(qs: QuerySet) -> tuple[str, tuple]:
    return qs.query.get_compiler(using=qs.db).as_sql()


def _built_page(
    listing: T.Listing, sc: Scope, sort: str, order: str, offset: int, limit: int
) -> ListingPage:
    """The page of an identified reader built by PostgreSQL (``records.aggregated``) with the
    scope's total and earliest start, in one statement."""
    if listing is T.ROOMS:
        counted, rows, columns = sc.rooms, _room_rows(sc), ROOM_COLUMNS
    else:
        counted = sc.participants
        rows, columns = _participant_rows(sc), PARTICIPANT_COLUMNS
    selected = _selected(columns, sc)
    values = {}
    for i, f in enumerate(listing.fields):
        column = selected.get(f.name)
        if f.name in MADE:
            values[f"f{i}"] = MADE[f.name]
        elif not isinstance(column, str):
            values[f"f{i}"] = column
        elif f.kind == T.DATETIME:
            values[f"f{i}"] = IsoUtc(F(column))
        else:
            values[f"f{i}"] = F(column)
    page = rows.order_by(*_ordering(columns[sort], order)).values(**values)
    count_sql, count_params = _sql(counted.order_by().values("pk"))
    start_sql, start_params = _sql(sc.rooms.order_by().values("started_at"))
    # A page that reaches the end (and starts within it) tells the total: then it is not
    # counted. The rooms' earliest start is one index read.
    total_sql = (
        "CASE WHEN count(*) BETWEEN %s AND %s THEN %s + count(*) "
        f"ELSE (SELECT count(*) FROM ({count_sql}) c) END"
    )
    data, fetched, total, started_at = records.aggregated(
        page[offset : offset + limit + 1],
        listing.field_names,
        records.JSON_ARRAY,
        limit,
        also=(
            (total_sql, (0 if offset == 0 else 1, limit, offset, *count_params)),
            (f"(SELECT min(s.started_at) FROM ({start_sql}) s)", start_params),
        ),
    )
    return ListingPage(
        (data or "[]").encode(), min(fetched, limit), fetched > limit, total, started_at
    )


def read_listing(
    request: HttpRequest, listing: T.Listing, scope: str, scope_id: str, p: ListingParams
) -> HttpResponse:
    started = time.perf_counter()
    errors.reject_unknown_parameters(request, type(p).model_fields)
    sc = _scope(request, listing, scope, scope_id)
    sort = p.sort or listing.sorts[0]
    order = p.order or "asc"
    name = f"{listing.file_stem}_{scope}_{scope_id}"
    if p.format != "json":
        rows, to_records = (_rooms if listing is T.ROOMS else _participants)(sc, sort, order)
        chosen = rows[p.offset :] if p.limit is None else rows[p.offset : p.offset + p.limit]
        return stream(p.format, listing, to_records(chosen), name, {})
    limit = p.limit or records.DEFAULT_LIMIT
    built = connection.vendor == "postgresql" and not sc.deidentified
    page = (_built_page if built else _python_page)(listing, sc, sort, order, p.offset, limit)
    metadata = {
        "dataType": listing.api_name,
        "scope": scope,
        "scopeId": scope_id,
        "timestamp": T.iso(timezone.now()),
        "query": {"limit": limit, "offset": p.offset, "sort": sort, "order": order},
        "processing": {
            "experimentStartedAt": T.iso(page.started_at),
            "processingTimeMs": round((time.perf_counter() - started) * 1000),
            "enriched": True,
            "version": VERSION,
        },
        "pagination": {
            "total": page.total,
            "returned": page.returned,
            "hasMore": page.has_more,
            "nextOffset": p.offset + page.returned if page.has_more else None,
            "nextCursor": None,
        },
    }
    return envelope(page.data, metadata)


_FILES_200 = {
    "responses": {
        200: {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                NDJSON: {"schema": {"type": "string"}},
            }
        }
    }
}
_NOTE = (
    " Requires the scope `read:events` and the export right deidentified or full (403 "
    "otherwise). Below the full right participant ids are codes (`anon_…`) and names and "
    "emails are null. `format=csv` / `format=ndjson` stream every record without `limit`."
)


def _register(listing: T.Listing, scopes: tuple[str, ...], path: str) -> None:
    schema = _params_schema(listing)

    annotations: dict[str, Any] = {"request": HttpRequest}
    if len(scopes) == 1:

        def view(request, scopeId, params):
            return read_listing(request, listing, scopes[0], scopeId, params)

    else:
        annotations["scope"] = Literal[scopes]  # type: ignore[valid-type]

        def view(request, scope, scopeId, params):
            return read_listing(request, listing, scope, scopeId, params)

    # Real objects, not strings: the schema is local, which a postponed annotation cannot name.
    view.__annotations__ = {**annotations, "scopeId": str, "params": Query[schema]}  # type: ignore[valid-type]
    view.__name__ = f"get_{listing.api_name}"
    api.default_router.add_api_operation(
        path,
        ["GET"],
        view,
        response={200: _page_schema(listing), **ERRORS},
        operation_id=f"get_{listing.api_name}",
        summary=f"{listing.label}: {listing.description}",
        description=listing.description + _NOTE,
        tags=["data"],
        openapi_extra=_FILES_200,
    )


_register(T.ROOMS, ("experiment",), "/data/rooms/experiment/{scopeId}")
_register(T.PARTICIPANTS, ("experiment", "room"), "/data/participants/{scope}/{scopeId}")
