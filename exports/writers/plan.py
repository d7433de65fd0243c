"""What every writer shares: the job's ``Plan``, the read-only connection rows are read on,
file and entry names, and the hashing file each output is written through."""

from __future__ import annotations

import codecs
import hashlib
import posixpath
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import IO, Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connections
from django.db.models import Count, QuerySet
from django.db.models.sql.constants import MULTI

from data_browser import access, copysql, counts
from data_browser import datatypes as T
from data_browser.access import Anonymization
from data_browser.identity import Policy
from data_browser.media import signed_path
from data_browser.models import Room

from .. import contextual
from ..models import ExportJob

SCHEMA_VERSION = "3.0.0"
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class Cancelled(Exception):
    """The job's cancel flag was seen between two chunks."""


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
            return copysql.api_select_sql(dt, ordered(self.records_qs(dt)))
        if dt.key not in self._copy_sql:
            sentinel = -7_310_777_001
            qs = ordered(self.records_qs(dt).filter(room_id=sentinel))
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


def ordered(qs: QuerySet) -> QuerySet:
    return qs.order_by("onset", "id")


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
