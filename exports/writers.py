"""CSV, JSON and ZIP writers: stream a job's rows from the database into files.

Everything here writes to local temporary files with constant memory: rows
come out of the database room by room (``COPY … TO STDOUT`` on PostgreSQL
for CSV with identifiers kept, a chunked server-side cursor otherwise), pass
through the job's anonymization and are written as they arrive. Reads happen
on a separate read-only connection with one snapshot for the whole export, so
that progress written on the default connection is visible while it runs.

A contextual export's filters narrow every read (``Plan.records_qs``), so the COPY path and
the Python path write the same rows; with ``csv_bom`` every CSV file (also inside a ZIP, also
the data dictionary) starts with the UTF-8 byte-order mark Excel looks for.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import posixpath
import re
import shutil
import struct
import time
import zipfile
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib import metadata as importlib_metadata
from itertools import islice
from typing import IO, Any

import orjson
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connections
from django.db.models import Count, QuerySet
from django.db.models.sql.constants import MULTI
from django.utils import timezone

from data_browser import access, copysql, counts, csvcells
from data_browser import datatypes as T
from data_browser.access import Anonymization
from data_browser.identity import Policy
from data_browser.media import signed_path
from data_browser.models import Room

from . import anonymize, contextual
from .models import SELF, ExportJob, Format, Level

SCHEMA_VERSION = "3.0.0"
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class Cancelled(Exception):
    """The job's cancel flag was seen between two chunks."""


def software_version() -> str:
    try:
        return importlib_metadata.version("hyperstudy-dash")
    except importlib_metadata.PackageNotFoundError:
        return "0.1.0"


def safe_name(text: str, fallback: str = "export") -> str:
    """A file or folder name with nothing but letters, digits, dot, dash and underscore."""
    cleaned = _SAFE.sub("_", text).strip("._")[:120]
    return cleaned or fallback


def safe_entry(*parts: str) -> str:
    """A ZIP entry name that cannot leave the archive's root (no '..', no absolute path)."""
    name = posixpath.join(*(safe_name(p) for p in parts))
    normalised = posixpath.normpath(name)
    if normalised.startswith(("/", "..")) or normalised != name:
        raise ValueError(f"unsafe entry name {name!r}")
    return name


@dataclass
class FileEntry:
    path: str
    dataType: str
    rows: int
    sha256: str
    bytes: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class HashingFile:
    """A binary writer that hashes and counts what passes through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.sha = hashlib.sha256()
        self.bytes = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.bytes += len(data)
        self.raw.write(data)
        return len(data)

    def entry(self, path: str, data_type: str, rows: int) -> FileEntry:
        return FileEntry(path, data_type, rows, self.sha.hexdigest(), self.bytes)


# Reading.


@contextmanager
def reader():
    """The connection rows are read on: its own read-only snapshot when the default
    connection is free, or the caller's transaction (tests, an atomic block) when it is not."""
    default = connections["default"]
    if default.in_atomic_block:
        yield default
        return
    conn = connections.create_connection("default")
    try:
        conn.ensure_connection()
        conn.set_autocommit(False)
        if conn.vendor == "postgresql":
            with conn.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield conn
    finally:
        try:
            conn.rollback()
        finally:
            conn.close()


def stream_rows(qs: QuerySet, conn, chunk_size: int) -> Iterator[list]:
    """Rows of a ``values_list`` queryset in chunks, with Django's value conversions, read
    through a server-side cursor on PostgreSQL (never materialised)."""
    conn = conn or connections[qs.db]
    compiler = qs.query.get_compiler(connection=conn)
    results = compiler.execute_sql(MULTI, chunked_fetch=True, chunk_size=chunk_size)
    if results is None:
        return
    fields = [s[0] for s in compiler.select[: compiler.col_count]]
    converters = compiler.get_converters(fields)
    for chunk in results:
        yield list(compiler.apply_converters(chunk, converters)) if converters else chunk


# The job being written.


Tick = Callable[[int], None]


@dataclass
class Plan:
    """Everything a writer needs to know about a job, resolved once."""

    job: ExportJob
    types: list[T.DataType]
    policy: Policy  # what the reader of the file may see (identity's one policy)
    tick: Tick
    say: Callable[[str], None]
    conn: Any = None
    reader: access.Access | None = None  # what the job's user (or key) may read: job_reader
    chunk_rows: int = field(default_factory=lambda: settings.EXPORT_CHUNK_ROWS)
    _scoped: dict[str, QuerySet] = field(default_factory=dict)
    _copy_sql: dict[str, tuple[str, tuple, int]] = field(default_factory=dict)
    digest: tuple[str, int] | None = None  # (sha256, size) when the writer already hashed it

    def __post_init__(self) -> None:
        if self.reader is None:
            self.reader = access.for_job(self.job)

    @property
    def mode(self) -> str:
        return self.job.anonymization

    @property
    def experiment_public_id(self) -> str:
        return self.job.experiment.public_id

    @property
    def bom(self) -> bytes:
        """What every CSV file starts with: the UTF-8 byte-order mark when asked for."""
        return codecs.BOM_UTF8 if self.job.csv_bom else b""

    def csv_head(self, dt: T.DataType) -> bytes:
        return self.bom + copysql.header_line(dt)

    def filters(self) -> dict[str, str]:
        """The job's filters as this file may record them."""
        if not self.job.filters:
            return {}
        return contextual.recorded(self.types[0], self.job.filters, self.policy)

    def records_qs(self, dt: T.DataType) -> QuerySet:
        """The job's scope for one type, through the access layer (re-read for the user now)."""
        if dt.key not in self._scoped:
            job = self.job
            qs = self.reader.records(dt).filter(experiment_id=job.experiment_id)
            if job.room_id:
                qs = qs.filter(room_id=job.room_id)
            if job.participant_id:
                qs = qs.filter(participant_id=job.participant_id)
            self._scoped[dt.key] = contextual.apply(dt, job.filters, qs)
        return self._scoped[dt.key]

    def room_copy_sql(self, dt: T.DataType, room_id: int | None) -> tuple[str, tuple]:
        """The COPY SELECT of one room (None: the whole scope), compiled once per type (only
        the room id changes)."""
        if room_id is None:
            return copysql.api_select_sql(dt, _ordered(self.records_qs(dt)))
        if dt.key not in self._copy_sql:
            sentinel = -7_310_777_001
            qs = _ordered(self.records_qs(dt).filter(room_id=sentinel))
            sql, params = copysql.api_select_sql(dt, qs)
            self._copy_sql[dt.key] = (sql, params, params.index(sentinel))
        sql, params, at = self._copy_sql[dt.key]
        return sql, (*params[:at], room_id, *params[at + 1 :])

    def rooms(self) -> list[Room]:
        job = self.job
        if job.room_id:
            return [job.room]
        rooms = self.reader.rooms().filter(experiment_id=job.experiment_id)
        if job.participant_id:
            rooms = rooms.filter(room_participants__participant_id=job.participant_id)
        return list(rooms.order_by("started_at", "pk"))

    def room_folder(self, room: Room) -> str:
        return safe_name(self.policy.room(room.public_id), "room")

    def use_copy(self, dt: T.DataType) -> bool:
        conn = self.conn or connections["default"]
        return (
            conn.vendor == "postgresql"
            and self.mode == Anonymization.KEEP
            and copysql.copy_supported(dt)
        )

    def rows_in_database(self) -> bool:
        """De-identified rows whose record codes, times and empty fields PostgreSQL makes
        (``Policy.columns``), coded and scrubbed by ``Policy.rows``."""
        conn = self.conn or connections["default"]
        return conn.vendor == "postgresql" and self.policy.in_database

    def url_for(self, dt: T.DataType) -> Callable[[str], str | None] | None:
        """Recording links: the file's path inside the ZIP when media are included, otherwise
        a signed, expiring link to the dashboard (only with identifiers kept)."""
        if self.mode != Anonymization.KEEP:
            return None
        if self.job.include_media:
            return lambda name: (
                f"media/{media_name(name)}" if name and default_storage.exists(name) else None
            )
        base = self.job.site_url.rstrip("/")

        def link(name: str) -> str | None:
            path = signed_path(name)
            if path is None or path.startswith("http"):
                return path
            return base + path

        return link


def media_name(storage_name: str) -> str:
    return safe_name(posixpath.basename(storage_name), "recording")


def _ordered(qs: QuerySet) -> QuerySet:
    return qs.order_by("onset", "id")


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
    qs = _ordered(qs.filter(room_id=room.pk) if room else qs)
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
    qs = _ordered(qs.filter(room_id=room.pk) if room else qs)
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


def scope_of(plan: Plan) -> tuple[str, str]:
    """The scope and its id as a de-identified reader may see them."""
    job = plan.job
    if job.participant_id:
        return "participant", plan.policy.participant(job.participant.public_id)
    if job.room_id:
        return "room", scope_room_id(plan, job.room)
    return "experiment", plan.experiment_public_id


def scope_room_id(plan: Plan, room: Room) -> str:
    return plan.policy.room(room.public_id)


# Aggregates.


def write_summary(plan: Plan, dt: T.DataType, raw: IO[bytes], path: str, fmt: str) -> FileEntry:
    plan.say(f"Summarising {dt.label.lower()}…")
    summary = anonymize.summaries(dt, plan.records_qs(dt), plan.experiment_public_id)
    summary = anonymize.scrub_labels(summary, plan.policy)
    out = HashingFile(raw)
    if fmt == Format.JSON:
        data = [dict(zip(summary.column_names, row, strict=True)) for row in summary.rows]
        meta = {
            "dataType": dt.api_name,
            "aggregate": summary.stem,
            "minGroupSize": settings.AGGREGATE_MIN_GROUP,
            "suppressedGroups": summary.suppressed,
            "timestamp": T.iso(timezone.now()),
        }
        out.write(orjson.dumps({"data": data, "metadata": meta}))
    else:
        text = io.StringIO()
        writer = csvcells.Writer(text)
        writer.writerow(summary.column_names)
        writer.writerows([csvcells.cell(v) for v in row] for row in summary.rows)
        out.write(plan.bom + text.getvalue().encode())
    plan.tick(len(summary.rows))
    return out.entry(path, dt.api_name, len(summary.rows))


def summary_stem(dt: T.DataType) -> str:
    return {
        "continuous": "continuous_ratings_summary",
        "sparse": "sparse_ratings_summary",
    }.get(dt.key, f"{dt.key}_summary")


# ZIP archives.


def new_zip(path: str) -> zipfile.ZipFile:
    return zipfile.ZipFile(
        path,
        "w",
        compression=zipfile.ZIP_DEFLATED,
        compresslevel=settings.EXPORT_ZIP_LEVEL,
        allowZip64=True,
    )


@contextmanager
def zip_member(zf: zipfile.ZipFile, name: str, *, stored: bool = False):
    info = zipfile.ZipInfo(name, date_time=time.gmtime()[:6])
    info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    if not stored:
        # ``compress_level`` from Python 3.13 on, ``_compresslevel`` before.
        level_attr = "compress_level" if hasattr(info, "compress_level") else "_compresslevel"
        setattr(info, level_attr, settings.EXPORT_ZIP_LEVEL)
    info.external_attr = 0o644 << 16
    with zf.open(info, "w", force_zip64=True) as member:
        yield member


def write_rooms_into_zip(plan: Plan, zf: zipfile.ZipFile, rooms: list[Room]) -> list[FileEntry]:
    """Folder per room, one CSV per data type (plus media files when asked for)."""
    by_copy: dict[tuple[int, str], FileEntry] = {}
    for dt in plan.types:
        if plan.use_copy(dt):
            by_copy.update(write_type_across_rooms(plan, zf, dt, rooms))
    entries = []
    for room in rooms:
        folder = plan.room_folder(room)
        for dt in plan.types:
            if (room.pk, dt.key) in by_copy:
                entries.append(by_copy[room.pk, dt.key])
                continue
            path = safe_entry(folder, f"{dt.file_stem}.csv")
            with zip_member(zf, path) as member:
                entries.append(write_type_csv(plan, dt, room, member, path))
        if plan.job.include_media:
            for dt in plan.types:
                if dt.has_media:
                    entries.extend(write_media(plan, dt, zf, room, folder))
    return entries


def write_type_across_rooms(
    plan: Plan, zf: zipfile.ZipFile, dt: T.DataType, rooms: list[Room]
) -> dict[tuple[int, str], FileEntry]:
    """One data type for all ``rooms``, a CSV per room, out of a single COPY ordered by room
    (one statement instead of one per room). The server sends one message per row, so the
    rooms' row counts, read in the same snapshot, cut the stream into the rooms' files."""
    conn = plan.conn or connections["default"]
    ordered = sorted(rooms, key=lambda r: r.pk)
    qs = plan.records_qs(dt).filter(room_id__in=[r.pk for r in ordered])
    counts_sql, counts_params = (
        qs.values("room_id").annotate(n=Count("id")).order_by().query.sql_with_params()
    )
    with conn.cursor() as cursor:
        cursor.execute(counts_sql, counts_params)
        per_room = dict(cursor.fetchall())
    sql, params = copysql.api_select_sql(dt, qs.order_by("room_id", "onset", "id"))
    plan.say(f"Writing {dt.file_stem}.csv of {len(rooms)} rooms…")
    messages = _Counted(copysql.copy_messages(sql, params, connection=conn))
    entries = {}
    try:
        for room in ordered:
            rows = per_room.get(room.pk, 0)
            path = safe_entry(plan.room_folder(room), f"{dt.file_stem}.csv")
            with zip_member(zf, path) as member:
                out = HashingFile(member)
                out.write(plan.csv_head(dt))
                for block in copysql.blocks(islice(messages, rows)):
                    out.write(block)
            plan.tick(rows)
            entries[room.pk, dt.key] = out.entry(path, dt.api_name, rows)
        extra = next(messages, None) is not None
    finally:
        messages.close()
    if extra or messages.count != sum(per_room.values()):
        raise RuntimeError(f"{dt.file_stem}: the rows sent differ from the rows counted")
    return entries


class _Counted(Iterator):
    """Passes the items of a generator through, counting them."""

    def __init__(self, items: Generator) -> None:
        self.items = items
        self.count = 0

    def __next__(self):
        item = next(self.items)
        self.count += 1
        return item

    def close(self) -> None:
        self.items.close()


def write_media(
    plan: Plan, dt: T.DataType, zf: zipfile.ZipFile, room: Room, folder: str
) -> list[FileEntry]:
    """The media files of one type's records in a room, under the room's ``media/`` folder."""
    entries = []
    plan.say("Adding media files…")
    records = plan.records_qs(dt).filter(room_id=room.pk).exclude(file="")
    for name in records.order_by("onset", "id").values_list("file", flat=True):
        if not default_storage.exists(name):
            continue
        path = safe_entry(folder, "media", media_name(name))
        with zip_member(zf, path, stored=True) as member, default_storage.open(name, "rb") as src:
            out = HashingFile(member)
            shutil.copyfileobj(src, out, 1024 * 1024)
        entries.append(out.entry(path, "recording-media", 0))
    return entries


def merge_zip(target: zipfile.ZipFile, source_path: str) -> int:
    """Append every member of another ZIP to ``target`` without recompressing it.

    The compressed bytes are copied as they are, with a fresh local header at the new offset;
    the central directory is written by ``target`` when it closes. Returns the member count.
    """
    count = 0
    fp = target.fp
    with open(source_path, "rb") as src_file, zipfile.ZipFile(src_file) as source:
        for info in source.infolist():
            src_file.seek(info.header_offset)
            header = src_file.read(zipfile.sizeFileHeader)
            name_len, extra_len = struct.unpack("<HH", header[26:30])
            src_file.seek(info.header_offset + zipfile.sizeFileHeader + name_len + extra_len)
            copied = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            for attr in ("compress_type", "CRC", "compress_size", "file_size", "external_attr"):
                setattr(copied, attr, getattr(info, attr))
            copied.flag_bits = info.flag_bits & ~0x08  # sizes are known: no data descriptor
            zip64 = (
                copied.file_size > zipfile.ZIP64_LIMIT or copied.compress_size > zipfile.ZIP64_LIMIT
            )
            fp.seek(target.start_dir)
            copied.header_offset = fp.tell()
            fp.write(copied.FileHeader(zip64))
            remaining = info.compress_size
            while remaining:
                block = src_file.read(min(remaining, 1024 * 1024))
                if not block:
                    raise zipfile.BadZipFile(f"{info.filename} is truncated in {source_path}")
                fp.write(block)
                remaining -= len(block)
            target.filelist.append(copied)
            target.NameToInfo[copied.filename] = copied
            target.start_dir = fp.tell()
            target._didModify = True
            count += 1
    return count


def data_dictionary(plan: Plan, entries: Iterable[FileEntry]) -> bytes:
    """One row per column of every data file: meaning, type, unit, notes."""
    text = io.StringIO()
    writer = csvcells.Writer(text)
    writer.writerow(["file", "column", "meaning", "type", "unit", "notes"])
    files = {posixpath.basename(e.path): e.dataType for e in entries if e.dataType in T.BY_API_NAME}
    for name in sorted(set(files)):
        dt = T.BY_API_NAME[files[name]]
        if plan.mode == Anonymization.AGGREGATE:
            summary = anonymize.summaries(dt, dt.model.objects.none(), "")
            for column, meaning, unit in summary.columns:
                writer.writerow([name, column, meaning, _value_type(column), unit, ""])
            continue
        for f in dt.fields:
            writer.writerow([name, f.name, f.meaning, f.value_type, f.unit, _notes(plan, dt, f)])
    return text.getvalue().encode()


def _value_type(column: str) -> str:
    text_columns = ("eventType", "componentId", "componentType", "stateId", "roomId", "format")
    return "string" if column in (*text_columns, "status") else "number"


def _notes(plan: Plan, dt: T.DataType, f: T.Field) -> str:
    notes = []
    if f.name in ("onset", "videoOffset"):
        notes.append("milliseconds from the room's start (experimentStartedAt); may be negative")
    if f.kind == T.PARTICIPANT and plan.mode in (Anonymization.REMOVE, SELF):
        notes.append("participant code (keyed HMAC), stable within this experiment")
    if f.kind == T.ROOM and plan.mode == Anonymization.REMOVE:
        notes.append("room code (keyed HMAC), the same as the room's folder name")
    if f.kind == T.ID and plan.mode == Anonymization.REMOVE:
        notes.append("record code (keyed HMAC of the record id), stable within this experiment")
    if f.deidentify == T.SCRUB and plan.mode in (Anonymization.REMOVE, SELF):
        notes.append("identifiers of other people replaced by codes or [removed]")
    if f.kind in (T.NAME,) and plan.mode == Anonymization.REMOVE:
        notes.append("removed")
    if f.kind in (T.NAME,) and plan.mode == SELF:
        notes.append("your own name; removed for everyone else")
    if f.kind == T.URL:
        notes.append(
            "path of the file in this archive"
            if plan.job.include_media
            else "signed link, valid for a limited time; empty without identifiers"
        )
    if f.name in ("scaleMin", "scaleMax", "value") and dt.key in ("continuous", "sparse"):
        notes.append("rating scale bounds are given per row in scaleMin and scaleMax")
    if "sampling" in dt.notes and f.name == "timestamp":
        notes.append(dt.notes["sampling"])
    if f.kind == T.JSON:
        notes.append("JSON text")
    return "; ".join(notes)


def rating_scales(plan: Plan) -> dict[str, dict[str, Any]]:
    """Scale bounds per rating component in the export, for metadata.json."""
    scales: dict[str, dict[str, Any]] = {}
    for dt in plan.types:
        if dt.key not in ("continuous", "sparse"):
            continue
        from django.db.models import Max, Min

        rows = (
            plan.records_qs(dt)
            .values("component_id")
            .annotate(lo=Min("scale_min"), hi=Max("scale_max"))
            .order_by("component_id")
        )
        for row in rows:
            component = plan.policy.label(row["component_id"])
            scales[component] = {"scaleMin": row["lo"], "scaleMax": row["hi"]}
    return scales


def metadata_json(plan: Plan, entries: list[FileEntry], rooms: list[Room]) -> bytes:
    job = plan.job
    scope, scope_id = scope_of(plan)
    sampling = {dt.api_name: dt.notes["sampling"] for dt in plan.types if "sampling" in dt.notes}
    meta = {
        "exportId": str(job.public_id),
        "createdBy": job.user.get_username(),
        "createdAt": T.iso(job.created_at),
        "writtenAt": T.iso(timezone.now()),
        "level": job.level,
        "scope": {
            "scope": scope,
            "scopeId": scope_id,
            "experimentId": plan.experiment_public_id,
            "roomIds": [scope_room_id(plan, r) for r in rooms],
        },
        "anonymization": job.anonymization,
        "minGroupSize": settings.AGGREGATE_MIN_GROUP
        if job.anonymization == Anonymization.AGGREGATE
        else None,
        "format": job.fmt,
        "includeMedia": job.include_media,
        "dataTypes": [dt.api_name for dt in plan.types],
        # A contextual export: the Data Viewer tab's filters, by API parameter name.
        "filtered": bool(job.filters),
        "filters": plan.filters(),
        "csv": {"encoding": "UTF-8", "byteOrderMark": job.csv_bom},
        "rows": sum(e.rows for e in entries),
        "files": [e.as_dict() for e in entries],
        "ratingScales": rating_scales(plan) if job.anonymization != Anonymization.AGGREGATE else {},
        "sampling": sampling,
        "timeBase": "onset = milliseconds from the room's start; timestamps are UTC (ISO 8601)",
        "schemaVersion": SCHEMA_VERSION,
        "software": {"name": "hyperstudy-dash", "version": software_version()},
    }
    return orjson.dumps(meta, option=orjson.OPT_INDENT_2)


def finish_zip(plan: Plan, zf: zipfile.ZipFile, entries: list[FileEntry], rooms: list[Room]):
    plan.say("Creating ZIP…")
    dictionary = data_dictionary(plan, entries)
    with zip_member(zf, "data_dictionary.csv") as member:
        out = HashingFile(member)
        out.write(plan.bom + dictionary)
    entries = [*entries, out.entry("data_dictionary.csv", "data-dictionary", 0)]
    with zip_member(zf, "metadata.json") as member:
        member.write(metadata_json(plan, entries, rooms))


# Whole jobs.


def build(plan: Plan, path: str) -> str:
    """Write the job's file to ``path``; returns the extension of what was written."""
    job = plan.job
    rooms = plan.rooms()
    plan.say("Fetching data…")
    # A filtered export is a ZIP too: its metadata.json records the filters.
    single = len(plan.types) == 1 and job.fmt != Format.ZIP and not job.filters
    if job.anonymization == Anonymization.AGGREGATE:
        if single:
            with open(path, "wb") as raw:
                dt = plan.types[0]
                write_summary(plan, dt, raw, f"{summary_stem(dt)}.{job.fmt}", job.fmt)
            return job.fmt
        ext = Format.JSON if job.fmt == Format.JSON else Format.CSV
        with new_zip(path) as zf:
            entries = []
            for dt in plan.types:
                name = f"{summary_stem(dt)}.{ext}"
                with zip_member(zf, name) as member:
                    entries.append(write_summary(plan, dt, member, name, ext))
            finish_zip(plan, zf, entries, rooms)
        return Format.ZIP
    if single:
        dt = plan.types[0]
        writer = write_type_json if job.fmt == Format.JSON else write_type_csv
        with open(path, "wb") as raw:
            entry = writer(plan, dt, None, raw, f"{dt.file_stem}.{job.fmt}")
        plan.digest = (entry.sha256, entry.bytes)
        return job.fmt
    with new_zip(path) as zf:
        if job.fmt == Format.ZIP:
            entries = write_rooms_into_zip(plan, zf, rooms)
        else:
            writer = write_type_json if job.fmt == Format.JSON else write_type_csv
            entries = []
            for dt in plan.types:
                name = f"{dt.file_stem}.{job.fmt}"
                with zip_member(zf, name) as member:
                    entries.append(writer(plan, dt, None, member, name))
        finish_zip(plan, zf, entries, rooms)
    return Format.ZIP


def splits_into_pieces(job: ExportJob) -> bool:
    """Experiment-level ZIPs of records are built per group of rooms, in parallel tasks."""
    return (
        job.level == Level.EXPERIMENT
        and job.fmt == Format.ZIP
        and job.anonymization != Anonymization.AGGREGATE
    )


def room_groups(plan: Plan, rooms: list[Room]) -> list[tuple[list[int], int]]:
    """Consecutive rooms grouped so that each group holds about ``EXPORT_PIECE_ROWS`` rows."""
    per_room = rows_by_room(plan)
    groups: list[tuple[list[int], int]] = []
    current: list[int] = []
    rows = 0
    for room in rooms:
        current.append(room.pk)
        rows += per_room.get(room.pk, 0)
        if rows >= settings.EXPORT_PIECE_ROWS:
            groups.append((current, rows))
            current, rows = [], 0
    if current or not groups:
        groups.append((current, rows))
    return groups


def rows_by_room(plan: Plan) -> dict[int, int]:
    """The job's rows per room pk. A whole scope that the job's reader reads in full (no
    filters; a member of the experiment, so every record of it) is read from the counts kept
    with the records (``data_browser.counts``), not counted: at a million rows the count
    alone took seconds before the first piece could start."""
    job = plan.job
    if not job.filters and plan.reader.is_member(job.experiment):
        found = counts.by_room(
            plan.types, experiment=job.experiment_id, participant=job.participant_id
        )
        return {job.room_id: found.get(job.room_id, 0)} if job.room_id else found
    found: dict[int, int] = {}
    for dt in plan.types:
        for row in plan.records_qs(dt).values("room_id").annotate(n=Count("id")).order_by():
            found[row["room_id"]] = found.get(row["room_id"], 0) + row["n"]
    return found


def count_rows(plan: Plan) -> int:
    return sum(rows_by_room(plan).values())


def file_digest(path: str) -> tuple[str, int]:
    sha = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while block := fh.read(1024 * 1024):
            sha.update(block)
            size += len(block)
    return sha.hexdigest(), size
