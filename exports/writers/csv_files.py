"""CSV files: ``COPY … TO STDOUT`` on PostgreSQL with identifiers kept, the Python writer
(de-identified rows made by the database where it can) otherwise."""

from __future__ import annotations

import io
import posixpath
from collections.abc import Iterator
from typing import IO, Any

from django.db import connections

from data_browser import copysql, csvcells
from data_browser import datatypes as T
from data_browser.models import Room

from .plan import HashingFile, Plan, ordered, stream_rows


def write_room_csv(plan: Plan, dt: T.DataType, room: Room | None, out: HashingFile) -> int:
    """The rows of one room (None: the job's whole scope) as CSV, without header."""
    if plan.use_copy(dt):
        sql, params = plan.room_copy_sql(dt, room.pk if room else None)
        conn = plan.conn or connections["default"]
        if conn is not connections["default"]:
            return _copy_with_ticks(plan, sql, params, out)
        rows = copysql.copy_select(sql, params, out.write, connection=conn)
        plan.tick(rows)
        return rows
    text = io.TextIOWrapper(_Unclosable(out), encoding="utf-8", newline="", write_through=False)
    writer = csvcells.Writer(text)
    rows = 0
    for chunk in _chunks(plan, dt, room):
        writer.writerows(chunk)
        rows += len(chunk)
        plan.tick(len(chunk))
    text.flush()
    text.detach()
    return rows


def _chunks(plan: Plan, dt: T.DataType, room: Room | None) -> Iterator[list[list[Any]]]:
    """The CSV cells of one room's rows (None: the job's whole scope), in chunks, through
    the Python writer: de-identified rows made by the database where it can."""
    qs = plan.records_qs(dt)
    qs = ordered(qs.filter(room_id=room.pk) if room else qs)
    policy = plan.policy
    if plan.rows_in_database():
        selected = qs.values_list(*policy.columns(dt))
        for chunk in stream_rows(selected, plan.conn, plan.chunk_rows):
            yield csvcells.deidentified_rows(dt, policy, chunk)
        return
    for chunk in stream_rows(T.select(dt, qs), plan.conn, plan.chunk_rows):
        records = policy.records(dt, list(T.to_records(dt, chunk, plan.url_for(dt))))
        yield list(csvcells.rows(dt, records))


def _copy_with_ticks(plan: Plan, sql: str, params: tuple, out: HashingFile) -> int:
    """COPY on the reader connection; progress (estimated from line ends) and the cancel flag
    are handled on the default connection while the rows stream."""
    pending = ticked = 0

    def write(block: bytes) -> None:
        nonlocal pending, ticked
        out.write(block)
        pending += block.count(b"\n")
        if pending >= plan.chunk_rows:
            plan.tick(pending)
            ticked += pending
            pending = 0

    rows = copysql.copy_select(sql, params, write, connection=plan.conn)
    plan.tick(rows - ticked)
    return rows


class _Unclosable(io.RawIOBase):
    """Lets a TextIOWrapper write into a HashingFile without closing it."""

    def __init__(self, target: HashingFile) -> None:
        self.target = target

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        return self.target.write(bytes(b))


def write_type_csv(plan: Plan, dt: T.DataType, room: Room | None, raw: IO[bytes], path: str):
    """One data type of one room, or of the job's whole scope (room None), as one CSV file
    sorted by onset."""
    out = HashingFile(raw)
    out.write(plan.csv_head(dt))
    plan.say(f"Writing {posixpath.basename(path)}…")
    rows = write_room_csv(plan, dt, room, out)
    return out.entry(path, dt.api_name, rows)
