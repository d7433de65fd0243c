"""The REST API v3 (django-ninja): data endpoints; writes live in ``writes``.

django-ninja gives routing, parameter validation and the OpenAPI document;
the data responses bypass its response validation: records come from
``datatypes.to_records`` and are serialised with orjson in one call (see
README, "REST API": measured against the benchmark).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal

import orjson
import yaml
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone
from ninja import Field, NinjaAPI, Query, Schema
from ninja.responses import NinjaJSONEncoder

from data_browser import access, copysql, csvcells, downloads
from data_browser import datatypes as T
from data_browser.filters import record_filterset
from data_browser.models import ExportRight
from hyperstudy_dash.health import api_health

from . import aggregate, errors, records
from .auth import ApiKeyAuth
from .schemas import PAGE_SCHEMAS, PARAMS_SCHEMAS, DataParams, Error

VERSION = "3.0.0"
ERRORS = {400: Error, 401: Error, 403: Error, 404: Error, 429: Error}

api = NinjaAPI(
    title="HyperStudy Data API",
    version=VERSION,
    description=(
        "Read experiment data by experiment, room or participant, ingest records and run "
        "exports. Authenticate with the `X-API-Key` header (create keys on the API Keys page). "
        'Success bodies are `{status: "success", data, metadata}`. Errors are '
        '`{status: "error", error: {code, message, details}}` with the codes UNAUTHORIZED, '
        "FORBIDDEN, NOT_FOUND, INVALID_PARAMETER, RATE_LIMIT_EXCEEDED and "
        "INTERNAL_SERVER_ERROR; 400 details name the parameter, the value and what was "
        "expected, 403 details the required and the provided scopes; 401 is the same for "
        "every bad key; a query parameter an endpoint does not take is a 400. Rate limits: "
        "per key per hour and per key and endpoint per minute; every answer carries "
        "X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset, a 429 Retry-After."
    ),
    urls_namespace="api_v3",
    docs_url=None,
    openapi_url="/openapi.json",
    auth=ApiKeyAuth(),
)
errors.install(api)

Scope = Literal["experiment", "room", "participant"]


def _params(request: HttpRequest, p: DataParams) -> records.Params:
    return records.Params(
        room_id=p.roomId,
        start=p.startTime,
        end=p.endTime,
        limit=p.limit,
        offset=p.offset,
        sort=p.sort,
        order=p.order,
        format=p.format,
        cursor=p.cursor,
        query_string=request.GET,
    )


NDJSON = "application/x-ndjson"
CSV = "text/csv; charset=utf-8"


def ndjson_lines(items: Iterable[dict], chunk: int = 500) -> Iterator[bytes]:
    """One JSON record a line, sent in pieces of ``chunk`` records."""
    batch: list[bytes] = []
    for item in items:
        batch.append(orjson.dumps(item))
        if len(batch) == chunk:
            yield b"\n".join(batch) + b"\n"
            batch = []
    if batch:
        yield b"\n".join(batch) + b"\n"


def stream(fmt: str, listing: Any, items: Iterable[dict], name: str, headers: dict) -> Any:
    """A CSV (the listing's columns) or NDJSON answer, streamed."""
    if fmt == "csv":
        headers["Content-Disposition"] = downloads.content_disposition(f"{name}.csv")
        body = csvcells.stream(listing, items)
        return StreamingHttpResponse(body, content_type=CSV, headers=headers)
    headers["Content-Disposition"] = downloads.content_disposition(f"{name}.ndjson")
    return StreamingHttpResponse(ndjson_lines(items), content_type=NDJSON, headers=headers)


def envelope(data: bytes, metadata: dict) -> HttpResponse:
    body = b'{"status":"success","data":' + data + b',"metadata":' + orjson.dumps(metadata) + b"}"
    return HttpResponse(body, content_type="application/json")


def _copy_stream(dt: T.DataType, queryset: QuerySet) -> Iterator[bytes]:
    """The CSV straight out of PostgreSQL's COPY, formatted by the database."""
    sql, sql_params = copysql.api_select_sql(dt, queryset)
    yield copysql.header_line(dt)
    yield from copysql.copy_blocks(sql, sql_params, connection=connection)


def _file(request: HttpRequest, sel: records.Selection, params: records.Params, name: str):
    """CSV or NDJSON: without an explicit limit every record of the scope (streamed; CSV by
    COPY on PostgreSQL when the database can produce every cell, an identified reader's
    NDJSON built by PostgreSQL like the JSON pages), with one a page whose next cursor is in
    ``X-Next-Cursor``."""
    headers = {"Content-Disposition": downloads.content_disposition(f"{name}.csv")}
    if params.format == "csv" and records.copy_possible(sel):
        queryset = records.ordered(sel, params.offset)
        if params.limit is not None:
            next_cursor = records.next_cursor(sel, params.limit, params.offset)
            if next_cursor:
                headers["X-Next-Cursor"] = next_cursor
            queryset = queryset[: params.limit]
        return StreamingHttpResponse(
            _copy_stream(sel.dt, queryset),
            content_type="text/csv; charset=utf-8",
            headers=headers,
        )
    if params.format == "ndjson" and not sel.policies and records.json_possible(sel):
        headers["Content-Disposition"] = downloads.content_disposition(f"{name}.ndjson")
        if params.limit is None:
            lines: Iterable[bytes] = records.iter_lines(sel, params.offset)
        else:
            page = records.fetch_lines(sel, params.limit, params.offset)
            if page.next_cursor:
                headers["X-Next-Cursor"] = page.next_cursor
            lines = [page.data]
        return StreamingHttpResponse(lines, content_type=NDJSON, headers=headers)
    if sel.policies and records.json_possible(sel):
        if params.limit is not None:
            next_cursor = records.next_cursor(sel, params.limit, params.offset)
            if next_cursor:
                headers["X-Next-Cursor"] = next_cursor
        if params.format == "csv" and records.rows_possible(sel):
            headers["Content-Disposition"] = downloads.content_disposition(f"{name}.csv")
            cells = records.iter_cells(sel, params.offset, params.limit)
            body = csvcells.stream_cells(sel.dt, cells)
            return StreamingHttpResponse(body, content_type=CSV, headers=headers)
        items = records.iter_deidentified(sel, params.offset, params.limit)
        return stream(params.format, sel.dt, items, name, headers)
    if params.limit is None:
        rows = records.iter_rows(sel, params.offset)
    else:
        page = records.fetch(sel, params.limit, params.offset)
        rows = page.rows
        if page.next_cursor:
            headers["X-Next-Cursor"] = page.next_cursor
    return stream(params.format, sel.dt, records.to_api(sel, rows, request), name, headers)


def read(
    request: HttpRequest, dt: T.DataType, scope: str, scope_id: str, p: DataParams
) -> HttpResponse:
    started = time.perf_counter()
    known = dict.fromkeys([*type(p).model_fields, *record_filterset(dt).base_filters])
    errors.reject_unknown_parameters(request, known)
    params = _params(request, p)
    sel = records.select(access.for_request(request), dt, scope, scope_id, params)
    name = f"{dt.file_stem}_{scope}_{scope_id}"
    window = getattr(p, "aggregationWindow", None)
    if window is not None:
        return _windows(sel, params, window, name, scope, scope_id, started)
    if params.format != "json":
        return _file(request, sel, params, name)
    limit = params.limit or records.DEFAULT_LIMIT
    if records.json_possible(sel):
        page = records.fetch_json(sel, limit, params.offset, with_start=True)
        data, returned = records.deidentified_json(sel, page.data), page.returned
        started_at = page.started_at
    else:
        page = records.fetch(sel, limit, params.offset)
        data = orjson.dumps(list(records.to_api(sel, page.rows, request)))
        returned = len(page.rows)
        started_at = sel.started_at
    total = records.total(sel)
    query = {
        **({"roomId": sel.query["roomId"]} if "roomId" in sel.query else {}),
        "limit": limit,
        "offset": page.position,
        "sort": sel.sort,
        "order": sel.order,
        **{k: v for k, v in sel.query.items() if k != "roomId"},
    }
    if params.cursor:
        query["cursor"] = params.cursor
    metadata = {
        "dataType": dt.api_name,
        "scope": scope,
        "scopeId": scope_id,
        "timestamp": T.iso(timezone.now()),
        "query": query,
        "processing": {
            "experimentStartedAt": T.iso(started_at),
            "processingTimeMs": round((time.perf_counter() - started) * 1000),
            "enriched": True,
            "version": VERSION,
        },
        "pagination": {
            "total": total,
            "returned": returned,
            "hasMore": page.has_more,
            "nextOffset": page.position + returned if page.has_more else None,
            "nextCursor": page.next_cursor,
        },
    }
    return envelope(data, metadata)


def _windows(
    sel: records.Selection,
    params: records.Params,
    window: int,
    name: str,
    scope: str,
    scope_id: str,
    started: float,
) -> HttpResponse:
    """Sync metrics averaged per window and participant (``aggregate``); paged by offset."""
    if params.cursor:
        raise errors.bad_parameter(
            "cursor",
            "cannot be combined with aggregationWindow",
            value=params.cursor,
            expected="offset paging of the windows",
        )
    if params.format != "json":
        if params.limit is None:
            items: Iterable[dict] = aggregate.every(sel, window, params.offset)
        else:
            items = aggregate.page(sel, window, params.limit, params.offset).records
        return stream(params.format, aggregate.SYNC_WINDOWS, items, f"{name}_windows", {})
    limit = params.limit or records.DEFAULT_LIMIT
    page = aggregate.page(sel, window, limit, params.offset)
    returned = len(page.records)
    metadata = {
        "dataType": T.SYNC.api_name,
        "scope": scope,
        "scopeId": scope_id,
        "timestamp": T.iso(timezone.now()),
        "query": {
            "limit": limit,
            "offset": params.offset,
            **sel.query,
            "aggregationWindow": window,
        },
        "processing": {
            "experimentStartedAt": T.iso(sel.started_at),
            "processingTimeMs": round((time.perf_counter() - started) * 1000),
            "enriched": True,
            "version": VERSION,
        },
        "pagination": {
            "total": aggregate.total(sel, window),
            "returned": returned,
            "hasMore": page.has_more,
            "nextOffset": params.offset + returned if page.has_more else None,
            "nextCursor": None,
        },
    }
    return envelope(orjson.dumps(page.records), metadata)


def _data_view(dt: T.DataType) -> Callable:
    schema = PARAMS_SCHEMAS[dt.key]

    def view(request, scope, scopeId, params):
        return read(request, dt, scope, scopeId, params)

    # Real objects, not strings: the schema is local, which a postponed annotation cannot name.
    view.__annotations__ = {
        "request": HttpRequest,
        "scope": Scope,
        "scopeId": str,
        "params": Query[schema],  # type: ignore[valid-type]
    }

    view.__name__ = f"get_{dt.file_stem}"
    return view


_CSV_200 = {
    "responses": {
        200: {
            "content": {
                "text/csv": {
                    "schema": {"type": "string"},
                    "example": "header = the record's field names; one row per record",
                },
                NDJSON: {
                    "schema": {"type": "string"},
                    "example": "one JSON record a line, the fields of the JSON records",
                },
            }
        }
    }
}

_TYPE_NOTES = {
    "events": " `category` keeps the events of one category (component, state, media, "
    "communication, sync).",
    "components": " `componentType` and `stateId` keep the components of one type or state.",
    "sync": " `aggregationWindow` (ms) returns, instead of samples, the averages of the metrics "
    "per participant and window of onset (records: experimentId, roomId, participantId, onset "
    "= window start, timestamp = first sample, windowMs, samples, and the averaged metrics).",
}

for _dt in T.DATA_TYPES:
    api.default_router.add_api_operation(
        f"/data/{_dt.api_name}/{{scope}}/{{scopeId}}",
        ["GET"],
        _data_view(_dt),
        response={200: PAGE_SCHEMAS[_dt.key], **ERRORS},
        operation_id=f"get_{_dt.file_stem}",
        summary=f"{_dt.label} of an experiment, room or participant",
        description=(
            f"{_dt.description} Requires the scope `{_dt.scope}`. `scopeId` is an experiment "
            "id, a room id, or a participant id (or, for users who see codes instead of "
            "identifiers, the participant's code `anon_…`). `format=csv` returns text/csv with "
            "the same columns as the export CSV, `format=ndjson` application/x-ndjson with one "
            "record a line; without `limit` either holds every record."
            + _TYPE_NOTES.get(_dt.key, "")
        ),
        tags=["data"],
        openapi_extra=_CSV_200,
    )


class Health(Schema):
    status: Literal["healthy", "degraded"]
    version: str
    timestamp: str
    checks: dict[str, Literal["ok", "down"]]


@api.get(
    "/health",
    auth=None,
    response={200: Health, 503: Health},
    tags=["health"],
    operation_id="get_health",
)
def health(request: HttpRequest) -> HttpResponse:
    """`{"status": "healthy", "version", "timestamp"}`, or `"degraded"` with a 503 when the
    database or the broker is down (the state of each is under `checks`). No key needed."""
    errors.reject_unknown_parameters(request, ())
    return api_health(VERSION)


class AccessOut(Schema):
    status: Literal["success"]
    canView: bool = Field(description="The key reaches the experiment (its owner is a member)")
    canExport: bool = Field(
        description="The owner's export right allows some export (aggregate or more) and the "
        "key has a read scope"
    )
    exportRight: Literal["none", "aggregate", "deidentified", "full"] = Field(
        description="The owner's export right: the data endpoints need deidentified or full"
    )


@api.get(
    "/data/check-access/experiment/{experimentId}",
    response={200: AccessOut, **ERRORS},
    url_name="check_access",
    operation_id="check_access",
    summary="Whether this key may view and export an experiment's data",
    description=(
        "No scope needed. 404 for an experiment the key does not reach. `exportRight` "
        "`none` or `aggregate` means the data endpoints answer 403 (reading records is "
        "exporting); `deidentified` returns codes instead of identifiers."
    ),
    tags=["data"],
)
def check_access(request: HttpRequest, experimentId: str) -> HttpResponse:
    errors.reject_unknown_parameters(request, ())
    reader = access.for_request(request)
    experiment = reader.experiment(records.check_id("experimentId", experimentId))
    right = reader.export_right(experiment)
    readable = any(reader.allows(scope) for scope in T.READ_SCOPES)
    body = {
        "status": "success",
        "canView": True,
        "canExport": right != ExportRight.NONE and readable,
        "exportRight": right,
    }
    return HttpResponse(orjson.dumps(body), content_type="application/json")


@api.get("/openapi.yaml", auth=None, include_in_schema=False)
def openapi_yaml(request: HttpRequest) -> HttpResponse:
    """The OpenAPI document of /openapi.json, as YAML (the overview's address for tooling)."""
    errors.reject_unknown_parameters(request, ())
    # Through JSON, as /openapi.json is: plain types and string keys only.
    document = json.loads(json.dumps(api.get_openapi_schema(), cls=NinjaJSONEncoder))
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    return HttpResponse(text, content_type="application/yaml; charset=utf-8")


def unknown_data_type(request: HttpRequest, rest: str) -> HttpResponse:
    parts = rest.strip("/").split("/")
    name = "/".join(parts[:-2]) if len(parts) > 2 else rest
    names = ", ".join(dt.api_name for dt in T.DATA_TYPES)
    raise errors.bad_parameter(
        "dataType",
        f"unknown data type {name!r} or malformed path; use /api/v3/data/{{dataType}}/"
        f"{{scope}}/{{scopeId}} with dataType one of {names}",
        value=name,
        expected=f"one of {names}",
    )
