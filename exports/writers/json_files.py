"""JSON files: the API's envelope, ``{"data": [...], "metadata": {...}}``."""

from __future__ import annotations

import posixpath
import time
from collections.abc import Iterator
from typing import IO, Any

import orjson
from django.utils import timezone

from data_browser import datatypes as T
from data_browser.models import Room

from .plan import SCHEMA_VERSION, HashingFile, Plan, ordered, scope_of, stream_rows


def write_type_json(plan: Plan, dt: T.DataType, room: Room | None, raw: IO[bytes], path: str):
    """One data type as the API's envelope: ``{"data": [...], "metadata": {...}}``, for one
    room or the job's whole scope (room None), sorted by onset."""
    started = time.monotonic()
    out = HashingFile(raw)
    plan.say(f"Writing {posixpath.basename(path)}…")
    out.write(b'{"data":[')
    rows = 0
    for records in _records(plan, dt, room):
        if not records:
            continue
        # One dumps per chunk, its brackets cut off: a dumps per record would leave each
        # record's few hundred bytes in a buffer of kilobytes until the chunk is written.
        if rows:
            out.write(b",")
        out.write(memoryview(orjson.dumps(records))[1:-1])
        rows += len(records)
        plan.tick(len(records))
    out.write(b'],"metadata":')
    rooms = [room] if room else plan.rooms()
    out.write(orjson.dumps(envelope_metadata(plan, dt, rows, rooms, started)))
    out.write(b"}")
    return out.entry(path, dt.api_name, rows)


def _records(plan: Plan, dt: T.DataType, room: Room | None) -> Iterator[list[dict[str, Any]]]:
    """The records of one room (None: the job's whole scope) as the reader may see them, in
    chunks: de-identified rows made by the database where it can."""
    qs = plan.records_qs(dt)
    qs = ordered(qs.filter(room_id=room.pk) if room else qs)
    policy = plan.policy
    if plan.rows_in_database():
        names = dt.field_names
        for chunk in stream_rows(qs.values_list(*policy.columns(dt)), plan.conn, plan.chunk_rows):
            yield [dict(zip(names, row, strict=True)) for row in policy.rows(dt, chunk)]
        return
    url_for = plan.url_for(dt)
    for chunk in stream_rows(T.select(dt, qs), plan.conn, plan.chunk_rows):
        yield policy.records(dt, list(T.to_records(dt, chunk, url_for)))


def envelope_metadata(
    plan: Plan, dt: T.DataType, rows: int, rooms: list[Room], started: float
) -> dict[str, Any]:
    job = plan.job
    scope, scope_id = scope_of(plan)
    processing: dict[str, Any] = {
        "processingTimeMs": int((time.monotonic() - started) * 1000),
        "enriched": True,
        "version": SCHEMA_VERSION,
        "anonymization": job.anonymization,
    }
    if len(rooms) == 1:
        processing["experimentStartedAt"] = T.iso(rooms[0].started_at)
    return {
        "dataType": dt.api_name,
        "scope": scope,
        "scopeId": scope_id,
        "timestamp": T.iso(timezone.now()),
        "query": {"export": str(job.public_id), **plan.filters()},
        "processing": processing,
        "pagination": {"total": rows, "returned": rows, "hasMore": False, "nextOffset": None},
    }
