"""Ingest: validate batches of records of any type and store the good ones.

Used by the demo loader, the API's ingest endpoint and imports. A bad record
is reported with what is wrong and never stored; it never costs a good
record its place. Replaying a batch adds nothing (records are keyed by id).
On PostgreSQL rows go in with COPY; elsewhere with bulk inserts.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from operator import itemgetter
from typing import Any

import orjson
import psycopg
from django.conf import settings
from django.db import IntegrityError, connection, transaction

from hyperstudy_dash import metrics

from . import counts, versions
from . import datatypes as T
from .models import ComponentSnapshot, Experiment, Participant, Room, RoomParticipant

BIGINT = 2**63 - 1
CLOSED_STATUSES = (Experiment.Status.COMPLETED, Experiment.Status.ARCHIVED)


@dataclass
class RecordError:
    index: int
    id: str | None
    errors: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "id": self.id, "errors": self.errors}


@dataclass
class IngestResult:
    data_type: str
    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    errors: list[RecordError] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.errors)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataType": self.data_type,
            "received": self.received,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "errors": [e.as_dict() for e in self.errors],
        }


@dataclass(frozen=True)
class _RoomRef:
    pk: int
    experiment_pk: int
    experiment_public_id: str
    experiment_status: str
    started_at: datetime


class _Refs:
    """Rooms, participants and room membership looked up in bulk, once per ingest call."""

    def __init__(self) -> None:
        self.rooms: dict[str, _RoomRef | None] = {}
        self.participants: dict[str, int | None] = {}
        self.roles: dict[tuple[int, int], str] = {}
        self._room_members_loaded: set[int] = set()
        self.component_types: dict[int, dict[str, str]] = {}

    def load(self, room_ids: set[str], participant_ids: set[str]) -> None:
        missing_rooms = [r for r in room_ids if r not in self.rooms]
        for start in range(0, len(missing_rooms), 500):
            chunk = missing_rooms[start : start + 500]
            for r in Room.objects.filter(public_id__in=chunk).values(
                "pk",
                "public_id",
                "started_at",
                "experiment_id",
                "experiment__public_id",
                "experiment__status",
            ):
                self.rooms[r["public_id"]] = _RoomRef(
                    r["pk"],
                    r["experiment_id"],
                    r["experiment__public_id"],
                    r["experiment__status"],
                    r["started_at"],
                )
            for r in chunk:
                self.rooms.setdefault(r, None)
        missing_people = [p for p in participant_ids if p not in self.participants]
        for start in range(0, len(missing_people), 500):
            chunk = missing_people[start : start + 500]
            self.participants.update(
                Participant.objects.filter(public_id__in=chunk).values_list("public_id", "pk")
            )
            for p in chunk:
                self.participants.setdefault(p, None)
        new_rooms = {
            ref.pk for r in room_ids if (ref := self.rooms.get(r)) is not None
        } - self._room_members_loaded
        if new_rooms:
            for room_pk, participant_pk, role in RoomParticipant.objects.filter(
                room_id__in=new_rooms
            ).values_list("room_id", "participant_id", "role"):
                self.roles[(room_pk, participant_pk)] = role
            self._room_members_loaded |= new_rooms

    def member(self, room: _RoomRef, participant_public: str) -> int | None:
        """The participant's pk if they took part in ``room``, else None (whatever the reason)."""
        pk = self.participants.get(participant_public)
        return pk if pk is not None and (room.pk, pk) in self.roles else None

    def load_component_types(self, room_ids: set[str]) -> None:
        """Component types of the batch's experiments, read before any COPY starts: the
        connection cannot run a query while it streams one."""
        for ref in filter(None, (self.rooms.get(r) for r in room_ids)):
            if ref.experiment_pk not in self.component_types:
                self.component_types[ref.experiment_pk] = dict(
                    ComponentSnapshot.objects.filter(experiment_id=ref.experiment_pk)
                    .exclude(component_type="")
                    .values_list("component_id", "component_type")
                    .distinct()
                )

    def component_type(self, experiment_pk: int, component_id: str) -> str:
        return self.component_types.get(experiment_pk, {}).get(component_id, "")


class _Plan:
    """How one data type's API fields become table columns, with a converter per field."""

    def __init__(self, dt: T.DataType) -> None:
        self.dt = dt
        self.fields = [f for f in dt.fields if f.writable]
        self.columns = [f.attname for f in self.fields]
        self.id_pos = self.columns.index("record_id")
        meta = dt.model._meta
        self.specs = []
        for f in self.fields:
            max_length = meta.get_field(f.column).max_length if f.kind in _OWN_STRINGS else None
            required = f.required or (f.kind == T.ID and dt.derived_id is None)
            self.specs.append(
                (f.name, _converter(f.kind, max_length), required, *_default(meta, f))
            )
        self.json_columns = [
            i for i, f in enumerate(self.fields) if f.kind in (T.JSON, T.PARTICIPANT_LIST)
        ]
        self.id_name = dt.id_field.name
        self.derived_id = dt.derived_id
        self.pos = {f.name: i for i, f in enumerate(self.fields)}
        self.room_name = next(f.name for f in self.fields if f.kind == T.ROOM)
        self.room_pos = self.pos[self.room_name]
        self.experiment_pos = self.pos["experimentId"]
        self.participant_name = next(f.name for f in self.fields if f.kind == T.PARTICIPANT)
        self.participant_pos = self.pos[self.participant_name]
        self.timestamp_name = next(f.name for f in self.fields if f.column == "timestamp")
        self.timestamp_pos = self.pos[self.timestamp_name]
        self.onset_name = next(f.name for f in self.fields if f.column == "onset")
        self.onset_pos = self.pos[self.onset_name]
        self.recipients_pos = self.pos.get("recipientIds")
        self.scope_key = itemgetter(self.experiment_pos, self.room_pos, self.participant_pos)


_STRINGS = (T.ID, T.STR, T.TEXT, T.ROOM, T.EXPERIMENT, T.PARTICIPANT)
_OWN_STRINGS = (T.ID, T.STR, T.TEXT)  # columns of the record table itself, with a max_length


def parse_timestamp(value: Any) -> datetime:
    if type(value) is not str:
        raise ValueError("must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 timestamp") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _converter(kind: str, max_length: int | None) -> Callable[[Any], Any]:
    """A function returning the value as stored, or raising ValueError saying what is wrong."""
    if kind in _STRINGS:
        limit = max_length or 0

        def to_str(value: Any) -> str:
            if type(value) is not str:
                raise ValueError("must be a string")
            if limit and len(value) > limit:
                raise ValueError(f"must be at most {limit} characters")
            if "\x00" in value:
                raise ValueError("must not contain NUL characters")
            return value

        return to_str
    if kind == T.INT:

        def to_int(value: Any) -> int:
            if type(value) is not int:
                if type(value) is not float or not value.is_integer():
                    raise ValueError("must be an integer")
                value = int(value)
            if not -BIGINT <= value <= BIGINT:
                raise ValueError("is out of range")
            return value

        return to_int
    if kind == T.FLOAT:

        def to_float(value: Any) -> float:
            if type(value) is not float:
                if type(value) is not int:
                    raise ValueError("must be a number")
                value = float(value)
            if not math.isfinite(value):
                raise ValueError("must be a finite number")
            return value

        return to_float
    if kind == T.DATETIME:
        return parse_timestamp
    if kind == T.PARTICIPANT_LIST:

        def to_id_list(value: Any) -> list[str]:
            if type(value) is not list or not all(type(v) is str for v in value):
                raise ValueError("must be a list of participant ids")
            return value

        return to_id_list

    def to_json(value: Any) -> Any:
        try:
            dumped = orjson.dumps(value)
        except TypeError:
            raise ValueError("must be JSON") from None
        if b"\\u0000" in dumped:
            raise ValueError("must not contain NUL characters")
        return value

    return to_json


def _default(meta: Any, f: T.Field) -> tuple[Any, bool]:
    """What an omitted field stores: the model column's default (``recipientIds`` [], meaning
    everyone in the room; ``messageType`` "text"; '' for text, NULL otherwise), and whether it
    is a factory to call for every record (a list must not be shared between rows)."""
    column = meta.get_field(f.attname)
    if column.has_default() and callable(column.default):
        return column.default, True
    return column.get_default(), False


def _validate(
    plan: _Plan, record: Any, refs: _Refs, tolerance: int, accept_closed: bool
) -> tuple[list[Any] | None, list[str]]:
    if not isinstance(record, Mapping):
        return None, ["record must be a JSON object"]
    if plan.derived_id is not None and record.get(plan.id_name) is None:
        record = {**record, plan.id_name: plan.derived_id.of(record)}
    get = record.get
    errors: list[str] = []
    values: list[Any] = []
    append = values.append
    for name, convert, required, default, fresh in plan.specs:
        raw = get(name)
        if raw is None:
            if required:
                errors.append(f"{name}: is required")
            append(default() if fresh else default)
            continue
        try:
            append(convert(raw))
        except ValueError as exc:
            errors.append(f"{name}: {exc}")
            append(default() if fresh else default)

    room = None
    room_public = values[plan.room_pos]
    if room_public:
        room = refs.rooms.get(room_public)
        if room is None:
            errors.append(f"{plan.room_name}: unknown room {room_public!r}")
    if room is not None:
        if not accept_closed and room.experiment_status in CLOSED_STATUSES:
            errors.append(
                f"{plan.room_name}: experiment {room.experiment_public_id} is "
                f"{room.experiment_status} and accepts no new data"
            )
        exp_public = values[plan.experiment_pos]
        if exp_public is not None and exp_public != room.experiment_public_id:
            errors.append(
                f"experimentId: room {room_public} belongs to {room.experiment_public_id}, "
                f"not {exp_public}"
            )
        values[plan.experiment_pos] = room.experiment_pk
        values[plan.room_pos] = room.pk

    participant_pk = None
    participant_public = values[plan.participant_pos]
    if participant_public is not None and room is not None:
        participant_pk = refs.member(room, participant_public)
        if participant_pk is None:
            errors.append(_not_in_room(plan.participant_name, participant_public, room_public))
    values[plan.participant_pos] = participant_pk
    if plan.recipients_pos is not None and room is not None:
        errors.extend(
            _not_in_room("recipientIds", r, room_public)
            for r in values[plan.recipients_pos]
            if refs.member(room, r) is None
        )

    timestamp = values[plan.timestamp_pos]
    if room is not None and timestamp is not None:
        delta = timestamp - room.started_at
        expected = delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000
        onset = values[plan.onset_pos]
        if onset is None:
            values[plan.onset_pos] = expected
        elif abs(onset - expected) > tolerance:
            errors.append(
                f"{plan.onset_name}: {onset} does not match the timestamp "
                f"(expected {expected} ms from the room's start, ± {tolerance} ms)"
            )
    elif values[plan.onset_pos] is None and not errors:
        errors.append(f"{plan.onset_name}: cannot be computed without a valid timestamp and room")

    if errors:
        return None, errors
    if plan.dt.enrich:
        _enrich_event(plan, values, room, participant_pk, refs)
    return values, []


def _not_in_room(field_name: str, participant_id: str, room_public: str) -> str:
    """One wording for an unknown participant, another lab's and one from another room, so
    that an answer never tells which of the three it was."""
    return f"{field_name}: {participant_id!r} did not take part in room {room_public!r}"


def _enrich_event(
    plan: _Plan, values: list[Any], room: _RoomRef, participant_pk: int | None, refs: _Refs
) -> None:
    """Fill componentType, content and participantRole when the sender left them out."""
    pos = plan.pos
    component_id = values[pos["componentId"]]
    if not values[pos["componentType"]] and component_id:
        values[pos["componentType"]] = refs.component_type(room.experiment_pk, component_id)
    if not values[pos["content"]]:
        event_type = values[pos["eventType"]]
        values[pos["content"]] = event_type + (f": {component_id}" if component_id else "")
    if not values[pos["participantRole"]] and participant_pk is not None:
        values[pos["participantRole"]] = refs.roles.get((room.pk, participant_pk), "")


def _chunks(records: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(records)
    while chunk := list(islice(it, size)):
        yield chunk


def ingest(
    type_key: str,
    records: Iterable[Any],
    *,
    batch_size: int | None = None,
    accept_closed: bool = False,
) -> IngestResult:
    """Validate and store ``records`` (dicts with the API's field names) of one data type."""
    dt = T.get(type_key)
    plan = _Plan(dt)
    refs = _Refs()
    tolerance = settings.INGEST_ONSET_TOLERANCE_MS
    result = IngestResult(data_type=dt.api_name)
    store = _store_postgres if connection.vendor == "postgresql" else _store_bulk
    offset = 0
    for chunk in _chunks(records, batch_size or settings.INGEST_BATCH_SIZE):
        _load_refs(plan, chunk, refs)
        valid = _valid_rows(plan, chunk, offset, refs, tolerance, accept_closed, result)
        # The batch and its counts commit together, or neither does.
        with transaction.atomic():
            added, stored = store(plan, valid)
            counts.add(dt, added)
        inserted = added.total()
        if inserted:
            versions.bump(r.experiment_pk for r in refs.rooms.values() if r is not None)
        result.received += len(chunk)
        result.accepted += inserted
        result.duplicates += stored - inserted
        offset += len(chunk)
    metrics.count_ingest(result.data_type, result.accepted, result.duplicates, result.rejected)
    return result


def _lookup_key(value: Any) -> bool:
    """Whether ``value`` can be looked up at all (the converters report what is wrong else)."""
    return type(value) is str and 0 < len(value) <= 255 and "\x00" not in value


def _load_refs(plan: _Plan, chunk: list[Any], refs: _Refs) -> None:
    room_ids: set[str] = set()
    people: set[str] = set()
    for record in chunk:
        if isinstance(record, Mapping):
            if _lookup_key(r := record.get(plan.room_name)):
                room_ids.add(r)
            if _lookup_key(p := record.get(plan.participant_name)):
                people.add(p)
            if isinstance(rs := record.get("recipientIds"), list):
                people.update(x for x in rs if _lookup_key(x))
    refs.load(room_ids, people)
    if plan.dt.enrich:
        refs.load_component_types(room_ids)


def _valid_rows(
    plan: _Plan,
    chunk: list[Any],
    offset: int,
    refs: _Refs,
    tolerance: int,
    accept_closed: bool,
    result: IngestResult,
) -> Iterator[list[Any]]:
    """The chunk's valid rows, first of each id; errors and repeats are noted on ``result``."""
    seen: set[str] = set()
    id_pos = plan.id_pos
    for index, record in enumerate(chunk, start=offset):
        row, errors = _validate(plan, record, refs, tolerance, accept_closed)
        if errors:
            rid = record.get(plan.id_name) if isinstance(record, Mapping) else None
            result.errors.append(RecordError(index, rid if isinstance(rid, str) else None, errors))
        elif row[id_pos] in seen:
            result.duplicates += 1
        else:
            seen.add(row[id_pos])
            yield row


def _existing_ids(plan: _Plan, ids: list[str]) -> set[str]:
    model = plan.dt.model
    found: set[str] = set()
    for start in range(0, len(ids), 900):
        found.update(
            model.objects.filter(record_id__in=ids[start : start + 900]).values_list(
                "record_id", flat=True
            )
        )
    return found


def _store_bulk(plan: _Plan, valid: Iterator[list[Any]]) -> tuple[Counter, int]:
    """Insert the rows whose ids are new; returns the rows inserted per scope key and the rows
    offered. Runs in the batch's transaction: SQLite lets one transaction write at a time and
    refuses a write on a snapshot older than the last commit, so the ids found missing here
    are the ids inserted."""
    rows = list(valid)
    id_pos = plan.id_pos
    existing = _existing_ids(plan, [r[id_pos] for r in rows])
    new = [row for row in rows if row[id_pos] not in existing]
    model = plan.dt.model
    objs = [model(**dict(zip(plan.columns, row, strict=True))) for row in new]
    model.objects.bulk_create(objs, batch_size=500, ignore_conflicts=True)
    return Counter(map(plan.scope_key, new)), len(rows)


def _copy_row(plan: _Plan, row: list[Any]) -> list[Any]:
    if plan.json_columns:
        row = list(row)
        for i in plan.json_columns:
            if row[i] is not None:
                row[i] = orjson.dumps(row[i]).decode()
    return row


def _store_postgres(plan: _Plan, valid: Iterator[list[Any]]) -> tuple[Counter, int]:
    """Stream rows into the table with COPY as they are validated, so PostgreSQL writes while
    Python validates. When an id is already stored (a replay), the COPY fails as a whole and the
    batch goes through a temporary table, inserting only what is new. Returns the rows inserted
    per scope key and the rows offered; runs in the batch's transaction."""
    table = connection.ops.quote_name(plan.dt.model._meta.db_table)
    cols = ", ".join(connection.ops.quote_name(c) for c in plan.columns)
    rows: list[list[Any]] = []
    with connection.cursor() as cursor:
        raw = cursor.cursor
        try:
            with (
                transaction.atomic(),
                raw.copy(f"COPY {table} ({cols}) FROM STDIN") as copy,
            ):
                for row in valid:
                    rows.append(row)
                    copy.write_row(_copy_row(plan, row))
            return Counter(map(plan.scope_key, rows)), len(rows)
        except (IntegrityError, psycopg.errors.UniqueViolation):
            pass
        for _row in valid:  # the COPY stopped early: validate the rest of the chunk
            rows.append(_row)
        raw.execute(
            f"CREATE TEMP TABLE _ingest ON COMMIT DROP AS SELECT {cols} FROM {table} WITH NO DATA"
        )
        with raw.copy(f"COPY _ingest ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(_copy_row(plan, row))
        raw.execute(
            f"WITH added AS (INSERT INTO {table} ({cols}) SELECT {cols} FROM _ingest "
            "ON CONFLICT (record_id) DO NOTHING RETURNING experiment_id, room_id, participant_id) "
            "SELECT experiment_id, room_id, participant_id, count(*) FROM added GROUP BY 1, 2, 3"
        )
        added = Counter({(exp, room, who): n for exp, room, who, n in raw.fetchall()})
        raw.execute("DROP TABLE _ingest")
        return added, len(rows)
