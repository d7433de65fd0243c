"""The REST API v3 (django-ninja): data endpoints; writes live in ``writes``.

django-ninja gives routing, parameter validation and the OpenAPI document;
the data responses bypass its response validation: records come from
``datatypes.to_records`` and are serialised with orjson in one call (see
README, "REST API": measured against the benchmark).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Literal

import orjson
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone
from ninja import Field, NinjaAPI, Query, Schema

from data_browser import access, copysql, csvcells, downloads
from data_browser import datatypes as T
from data_browser.models import ExportRight
from hyperstudy_dash.health import api_health

from . import errors, records
from .auth import ApiKeyAuth
from .schemas import PAGE_SCHEMAS, DataParams, Error

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


def _params(p: DataParams) -> records.Params:
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
    )


def _copy_stream(dt: T.DataType, queryset: QuerySet) -> Iterator[bytes]:
    """The CSV straight out of PostgreSQL's COPY, formatted by the database."""
    sql, sql_params = copysql.api_select_sql(dt, queryset)
    yield copysql.header_line(dt)
    yield from copysql.copy_blocks(sql, sql_params, connection=connection)


def _csv(request: HttpRequest, sel: records.Selection, params: records.Params, name: str):
    """Without an explicit limit a CSV holds every record of the scope (streamed; by COPY on
    PostgreSQL when the database can produce every cell)."""
    headers = {"Content-Disposition": downloads.content_disposition(f"{name}.csv")}
    if records.copy_possible(sel):
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
    if params.limit is None:
        rows = records.iter_rows(sel, params.offset)
    else:
        page = records.fetch(sel, params.limit, params.offset)
        rows = page.rows
        if page.next_cursor:
            headers["X-Next-Cursor"] = page.next_cursor
    return StreamingHttpResponse(
        csvcells.stream(sel.dt, records.to_api(sel, rows, request)),
        content_type="text/csv; charset=utf-8",
        headers=headers,
    )


def read(
    request: HttpRequest, dt: T.DataType, scope: str, scope_id: str, p: DataParams
) -> HttpResponse:
    started = time.perf_counter()
    errors.reject_unknown_parameters(request, type(p).model_fields)
    params = _params(p)
    sel = records.select(access.for_request(request), dt, scope, scope_id, params)
    if params.format == "csv":
        return _csv(request, sel, params, f"{dt.file_stem}_{scope}_{scope_id}")
    limit = params.limit or records.DEFAULT_LIMIT
    if records.json_possible(sel):
        page = records.fetch_json(sel, limit, params.offset)
        data, returned = page.data, page.returned
    else:
        page = records.fetch(sel, limit, params.offset)
        data = orjson.dumps(list(records.to_api(sel, page.rows, request)))
        returned = len(page.rows)
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
            "experimentStartedAt": T.iso(sel.started_at),
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
    body = b'{"status":"success","data":' + data + b',"metadata":' + orjson.dumps(metadata) + b"}"
    return HttpResponse(body, content_type="application/json")


def _data_view(dt: T.DataType) -> Callable:
    def view(request: HttpRequest, scope: Scope, scopeId: str, params: Query[DataParams]):
        return read(request, dt, scope, scopeId, params)

    view.__name__ = f"get_{dt.file_stem}"
    return view


_CSV_200 = {
    "responses": {
        200: {
            "content": {
                "text/csv": {
                    "schema": {"type": "string"},
                    "example": "header = the record's field names; one row per record",
                }
            }
        }
    }
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
            "the same columns as the export CSV; without `limit` it holds every record."
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
    return api_health(VERSION)


class AccessOut(Schema):
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
        "canView": True,
        "canExport": right != ExportRight.NONE and readable,
        "exportRight": right,
    }
    return HttpResponse(orjson.dumps(body), content_type="application/json")


@api.get("/data/{path:rest}", include_in_schema=False)
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
