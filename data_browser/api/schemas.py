"""Schemas of the API, for validation of parameters and for the OpenAPI document.

Record schemas are generated from ``data_browser.datatypes`` (never listed
again here). Responses on the hot path are not validated against them: the
records are built by ``datatypes.to_records`` and serialised with orjson.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.conf import settings
from django_filters import filters as df
from ninja import Field, Schema
from pydantic import ConfigDict, create_model

from data_browser import datatypes as T
from data_browser.filters import record_filterset

from .errors import ALL_CODES
from .records import DEFAULT_LIMIT

MAX_OFFSET = 2**62

_KIND_TYPES: dict[str, Any] = {
    T.ID: str,
    T.EXPERIMENT: str,
    T.ROOM: str,
    T.PARTICIPANT: str,
    T.NAME: str,
    T.URL: str,
    T.STR: str,
    T.TEXT: str,
    T.INT: int,
    T.FLOAT: float,
    T.DATETIME: datetime,
    T.JSON: Any,
    T.PARTICIPANT_LIST: list[str],
}


def _description(f: T.Field) -> str:
    return f"{f.meaning}" + (f" ({f.unit})" if f.unit else "")


def record_schema(dt: T.DataType) -> type[Schema]:
    fields: dict[str, Any] = {
        f.name: (_KIND_TYPES[f.kind] | None, Field(None, description=_description(f)))
        for f in dt.fields
    }
    name = "".join(p.capitalize() for p in dt.file_stem.split("_")) + "Record"
    return create_model(name, __base__=Schema, **fields)


RECORD_SCHEMAS = {dt.key: record_schema(dt) for dt in T.DATA_TYPES}


class Processing(Schema):
    experimentStartedAt: datetime | None = Field(
        None,
        description="Onset 0: the room's start (room and participant-in-room scopes); the "
        "earliest room start of the scope otherwise",
    )
    processingTimeMs: int
    enriched: bool = Field(description="Events carry componentType and content")
    version: str


class Pagination(Schema):
    total: int = Field(description="Records matching the scope and filters")
    returned: int
    hasMore: bool
    nextOffset: int | None = Field(description="offset of the next page, null on the last")
    nextCursor: str | None = Field(
        None,
        description="Beyond the reference: opaque keyset cursor of the next page (pass as "
        "`cursor`); deep pages cost the same as the first. Null on the last page.",
    )


class Metadata(Schema):
    dataType: str
    scope: Literal["experiment", "room", "participant"]
    scopeId: str
    timestamp: datetime
    query: dict[str, Any]
    processing: Processing
    pagination: Pagination


def page_schema(dt: T.DataType) -> type[Schema]:
    name = RECORD_SCHEMAS[dt.key].__name__.replace("Record", "Page")
    return create_model(
        name,
        __base__=Schema,
        status=(Literal["success"], ...),
        data=(list[RECORD_SCHEMAS[dt.key]], ...),
        metadata=(Metadata, ...),
    )


PAGE_SCHEMAS = {dt.key: page_schema(dt) for dt in T.DATA_TYPES}


ErrorCode = Literal[ALL_CODES]  # type: ignore[valid-type]


class ErrorBody(Schema):
    code: ErrorCode = Field(  # type: ignore[valid-type]
        description="Machine-readable: UNAUTHORIZED 401, FORBIDDEN 403, NOT_FOUND 404, "
        "INVALID_PARAMETER 400, RATE_LIMIT_EXCEEDED 429, INTERNAL_SERVER_ERROR 500 (and "
        "METHOD_NOT_ALLOWED 405, PAYLOAD_TOO_LARGE 413, SERVICE_UNAVAILABLE 503)"
    )
    message: str = Field(description="What is wrong, for a person")
    details: dict[str, Any] = Field(
        description="400: parameter, value, expected; 403: requiredScopes, providedScopes; "
        "429: limit, window, retryAfterSeconds; otherwise empty or what else there is to say"
    )


class Error(Schema):
    status: Literal["error"]
    error: ErrorBody


class DataParams(Schema):
    """Absent parameters stay None (typed without ``| None`` so the spec shows plain types)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    roomId: str = Field(
        None,
        description="Participant scope: only this room. Experiment scope: only this room of the "
        "experiment. Room scope: must equal the room in the path.",
    )
    startTime: datetime = Field(
        None, description="ISO 8601; records at or after this time (no zone: UTC)"
    )
    endTime: datetime = Field(None, description="ISO 8601; records before this time (no zone: UTC)")
    limit: int = Field(
        None,
        ge=1,
        le=settings.API_MAX_LIMIT,
        description=f"Max records (default {DEFAULT_LIMIT}, max {settings.API_MAX_LIMIT}). "
        "With format=csv and no limit, every record of the scope is streamed.",
    )
    offset: int = Field(0, ge=0, le=MAX_OFFSET, description="Skip records for pagination")
    sort: Literal["timestamp", "onset"] = Field(None, description="Sort field (default timestamp)")
    order: Literal["asc", "desc"] = Field(None, description="Sort order (default asc)")
    format: Literal["json", "csv", "ndjson"] = Field(
        "json",
        description="Response format: json (one page with metadata), csv or ndjson (one record "
        "a line); csv and ndjson are streamed and, without limit, hold every record",
    )
    cursor: str = Field(
        None,
        description="Opaque keyset cursor from metadata.pagination.nextCursor (instead of offset)",
    )


MAX_WINDOW_MS = 24 * 3600 * 1000

# The per-type query parameters (``DataType.api_filters``), as the later edition names them.
FILTER_FIELDS: dict[str, tuple[Any, Any]] = {
    "category": (
        Literal[tuple(T.EVENT_CATEGORIES)],
        Field(
            None,
            description="Events of this category only: "
            + ", ".join(T.EVENT_CATEGORIES)
            + " (events stored without a category count by their eventType)",
        ),
    ),
    "componentType": (
        str,
        Field(None, max_length=200, description="Components of this type only, e.g. ShowVideo"),
    ),
    "stateId": (
        str,
        Field(None, max_length=200, description="Components of this experiment state only"),
    ),
    "aggregationWindow": (
        int,
        Field(
            None,
            ge=1,
            le=MAX_WINDOW_MS,
            description="Window in ms: instead of samples, one record per participant and "
            "window of onset (onset // window): onset is the window's start, timestamp its "
            "first sample, samples the count, timeDrift, playbackRate, syncQuality, latency "
            "and bufferHealth the averages; paged, ordered by window (then room, participant)",
        ),
    ),
}


def _filter_field(f: df.Filter) -> tuple[Any, Any]:
    """A filter of the record FilterSet (the dashboard's filter form, which the data
    endpoints take as query parameters too) as the spec describes it."""
    label = str(f.label)
    if isinstance(f, df.ChoiceFilter):
        choices = tuple(str(value) for value, _ in f.extra["choices"])
        return Literal[choices], Field(None, description=label)
    if isinstance(f, df.NumberFilter):
        bound = "at most" if f.lookup_expr == "lte" else "at least"
        limit = f.extra["max_value"]
        description = f"{label}: records whose onset is {bound} this"
        return float, Field(None, ge=-limit, le=limit, description=description)
    exact = f.lookup_expr == "exact"
    how = "exactly this value" if exact else "containing this text, any case"
    return str, Field(None, max_length=200, description=f"{label}: records with {how}")


def params_schema(dt: T.DataType) -> type[Schema]:
    """DataParams plus the type's own parameters: those the later edition names and the
    other filters of the type's FilterSet."""
    fields = {f: FILTER_FIELDS[f] for f in dt.api_filters}
    for name, f in record_filterset(dt).base_filters.items():
        if name not in DataParams.model_fields and name not in fields:
            fields[name] = _filter_field(f)
    name = "".join(p.capitalize() for p in dt.file_stem.split("_")) + "Params"
    return create_model(name, __base__=DataParams, **fields)


PARAMS_SCHEMAS = {dt.key: params_schema(dt) for dt in T.DATA_TYPES}
