"""Write endpoints: ingest batches of records (export jobs are ``exports.api``'s).

Ingest: owners and collaborators with the full export right may write (the
records carry participant identifiers). A record for a room the key may not
write to gets the same per-record error as a room that does not exist, so
the endpoint reveals nothing about other labs' rooms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import orjson
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from ninja import Field, Schema

from data_browser import access, audit
from data_browser import datatypes as T
from data_browser.ingest import ingest
from data_browser.models import ApiKey, ExportRight

from .errors import ApiError, bad_parameter, forbidden, reject_unknown_parameters
from .schemas import RECORD_SCHEMAS, Error
from .views import api

NO_NUL = r"^[^\x00]*$"
NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-lines")


class RecordErrorOut(Schema):
    index: int = Field(description="Position of the record in the batch (0-based)")
    id: str | None
    errors: list[str]


class IngestResultOut(Schema):
    status: Literal["success"]
    dataType: str
    received: int
    accepted: int = Field(description="Stored now")
    duplicates: int = Field(description="Already stored (replays are idempotent)")
    rejected: int
    errors: list[RecordErrorOut]


def _writable_experiments(reader: access.Access) -> list[int]:
    """Owners and collaborators with the full export right write (within the key's reach)."""
    return [
        pk for pk, m in reader.memberships.items() if m.effective_export_right == ExportRight.FULL
    ]


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "PAYLOAD_TOO_LARGE",
        f"The body is larger than {limit} bytes; send batches.",
        {"parameter": "body", "expected": f"at most {limit} bytes"},
    )


def _body(request: HttpRequest) -> bytes:
    limit = settings.API_INGEST_MAX_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise _too_large(limit)
    body = request.read(limit + 1)
    if len(body) > limit:
        raise _too_large(limit)
    return body


def parse_batch(body: bytes, content_type: str) -> list[Any]:
    """A JSON array, or NDJSON (one record per line); a 400 names the line that is wrong."""
    if content_type.split(";")[0].strip().lower() in NDJSON_TYPES:
        batch = []
        for n, line in enumerate(body.split(b"\n"), start=1):
            if not line.strip():
                continue
            try:
                batch.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                raise bad_parameter("body", f"line {n} is not valid JSON ({exc.msg})") from None
        return batch
    if not body.strip():
        raise bad_parameter("body", "is empty; send a JSON array of records or NDJSON")
    try:
        batch = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad_parameter(
            "body", f"is not valid JSON: line {exc.lineno} column {exc.colno} ({exc.msg})"
        ) from None
    if not isinstance(batch, list):
        raise bad_parameter(
            "body",
            "must be a JSON array of records (or NDJSON with Content-Type application/x-ndjson)",
        )
    return batch


_REFERENCES = (T.ROOM, T.PARTICIPANT, T.PARTICIPANT_LIST, T.EXPERIMENT)


def _refusal(dt: T.DataType, record: Any, room_field: str, allowed: set[str]) -> list[str]:
    """Why a record is refused before ingest looks at it: a room this key may not write to
    (worded as for a room that does not exist), or a reference no id can be."""
    if not isinstance(record, dict):
        return []
    problems = []
    for f in dt.fields:
        value = record.get(f.name)
        values = value if f.kind == T.PARTICIPANT_LIST and isinstance(value, list) else [value]
        if f.kind in _REFERENCES and any(isinstance(v, str) and "\x00" in v for v in values):
            problems.append(f"{f.name}: must not contain NUL characters")
    room = record.get(room_field)
    if not problems and isinstance(room, str) and room not in allowed:
        problems.append(f"{room_field}: unknown room {room!r}")
    return problems


def ingest_batch(request: HttpRequest, dt: T.DataType) -> HttpResponse:
    key: ApiKey = request.auth
    user = request.user
    reject_unknown_parameters(request, ())
    reader = access.for_request(request)
    if not reader.allows(T.WRITE_SCOPE):
        raise forbidden(
            f"Insufficient permissions. Required: {T.WRITE_SCOPE} (to ingest data).",
            required=T.WRITE_SCOPE,
            provided=list(key.scopes),
        )
    writable = _writable_experiments(reader)
    if not writable:
        raise ApiError(
            403,
            "FORBIDDEN",
            "You may not write data to any experiment: owners and collaborators with the full "
            "export right may.",
        )
    batch = parse_batch(_body(request), request.content_type or "")
    room_field = next(f.name for f in dt.fields if f.kind == T.ROOM)
    wanted = {
        room
        for r in batch
        if isinstance(r, dict) and isinstance(room := r.get(room_field), str) and "\x00" not in room
    }
    allowed = set(
        reader.rooms()
        .filter(public_id__in=wanted, experiment_id__in=writable)
        .values_list("public_id", flat=True)
    )
    positions, accepted_records, refused = [], [], []
    for index, record in enumerate(batch):
        problems = _refusal(dt, record, room_field, allowed)
        if problems:
            rid = record.get(dt.id_field.name)
            refused.append(
                {"index": index, "id": rid if isinstance(rid, str) else None, "errors": problems}
            )
        else:
            positions.append(index)
            accepted_records.append(record)
    result = ingest(dt.key, accepted_records)
    errors = [{**e.as_dict(), "index": positions[e.index]} for e in result.errors] + refused
    errors.sort(key=lambda e: e["index"])
    body = {
        "status": "success",
        "dataType": dt.api_name,
        "received": len(batch),
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "rejected": len(errors),
        "errors": errors,
    }
    experiments = list(reader.experiments().filter(rooms__public_id__in=allowed)[:2])
    audit.record(
        "data.ingested",
        actor=user,
        request=request,
        experiment=experiments[0] if len(experiments) == 1 else None,
        scope=dt.api_name,
        rows=result.accepted,
        details={**{k: v for k, v in body.items() if k != "errors"}, "key": key.prefix},
    )
    return HttpResponse(orjson.dumps(body), content_type="application/json")


def _ingest_view(dt: T.DataType) -> Callable:
    def view(request: HttpRequest):
        return ingest_batch(request, dt)

    view.__name__ = f"ingest_{dt.file_stem}"
    return view


for _dt in T.DATA_TYPES:
    _schema_name = RECORD_SCHEMAS[_dt.key].__name__
    api.default_router.add_api_operation(
        f"/ingest/{_dt.api_name}",
        ["POST"],
        _ingest_view(_dt),
        response={200: IngestResultOut, 400: Error, 401: Error, 403: Error, 413: Error, 429: Error},
        operation_id=f"ingest_{_dt.file_stem}",
        summary=f"Ingest {_dt.label.lower()}",
        description=(
            f"Requires the scope `{T.WRITE_SCOPE}`; owners and full collaborators may write. "
            "Body: a JSON array of records, or NDJSON with Content-Type application/x-ndjson. "
            "Good records are stored, bad ones are listed with their errors; replaying a batch "
            f"stores nothing twice. Bodies over {settings.API_INGEST_MAX_BYTES} bytes get 413. "
            f"Not writable: {', '.join(f.name for f in _dt.fields if not f.writable) or 'none'}."
        ),
        tags=["ingest"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "array",
                            "items": {"$ref": f"#/components/schemas/{_schema_name}"},
                        }
                    },
                    "application/x-ndjson": {"schema": {"type": "string"}},
                },
            }
        },
    )


@api.post("/ingest/{path:rest}", include_in_schema=False)
def unknown_ingest_type(request: HttpRequest, rest: str) -> HttpResponse:
    raise bad_parameter(
        "dataType",
        f"unknown data type {rest!r}; choose one of "
        f"{', '.join(dt.api_name for dt in T.DATA_TYPES)}",
    )
