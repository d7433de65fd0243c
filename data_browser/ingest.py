"""Ingest: validate batches of records of any type and store the good ones.

Used by the demo loader, the API's ingest endpoint and imports. A bad record
is reported with what is wrong and never stored; it never costs a good
record its place. Replaying a batch adds nothing (records are keyed by id).
On PostgreSQL rows go in with COPY; elsewhere with bulk inserts.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import orjson
import psycopg
from django.conf import settings
from django.db import IntegrityError, connection, transaction

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

    def component_type(self, experiment_pk: int, component_id: str) -> str:
        types = self.component_types.get(experiment_pk)
        if types is None:
            types = dict(
                ComponentSnapshot.objects.filter(experiment_id=experiment_pk)
                .exclude(component_type="")
                .values_list("component_id", "component_type")
                .distinct()
            )
            self.component_types[experiment_pk] = types
        return types.get(component_id, "")


class _Plan:
    """How one data type's API fields become table columns."""

    def __init__(self, dt: T.DataType) -> None:
        self.dt = dt
        self.fields = [f for f in dt.fields if f.writable]
        self.columns = [f.attname for f in self.fields]
        self.id_pos = self.columns.index("record_id")
        meta = dt.model._meta
        self.max_length = {
            f.name: meta.get_field(f.column).max_length
            for f in self.fields
            if f.kind in (T.ID, T.STR) and meta.get_field(f.column).max_length
        }
        self.json_columns = [
            i for i, f in enumerate(self.fields) if f.kind in (T.JSON, T.PARTICIPANT_LIST)
        ]
        self.id_name = dt.id_field.name
        self.room_name = next(f.name for f in self.fields if f.kind == T.ROOM)
        self.participant_field = next(f for f in self.fields if f.kind == T.PARTICIPANT)
        self.timestamp_name = next(f.name for f in self.fields if f.column == "timestamp")
        self.onset_name = next(f.name for f in self.fields if f.column == "onset")


def parse_timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 timestamp") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _check(f: T.Field, value: Any, max_length: int | None) -> Any:
    """The value as stored, or ValueError saying what is wrong with it."""
    kind = f.kind
    if kind in (T.ID, T.STR, T.TEXT, T.ROOM, T.EXPERIMENT, T.PARTICIPANT):
        if not isinstance(value, str):
            raise ValueError("must be a string")
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        if max_length is not None and len(value) > max_length:
            raise ValueError(f"must be at most {max_length} characters")
        return value
    if kind == T.INT:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("must be an integer")
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError("must be an integer")
            value = int(value)
        if not -BIGINT <= value <= BIGINT:
            raise ValueError("is out of range")
        return value
    if kind == T.FLOAT:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("must be a number")
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return float(value)
    if kind == T.DATETIME:
        return parse_timestamp(value)
    if kind == T.PARTICIPANT_LIST:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("must be a list of participant ids")
        return value
    if kind == T.JSON:
        try:
            dumped = orjson.dumps(value)
        except TypeError:
            raise ValueError("must be JSON") from None
        if b"\\u0000" in dumped:
            raise ValueError("must not contain NUL characters")
        return value
    raise ValueError("cannot be written")  # pragma: no cover - NAME and URL are not writable


def _derived_snapshot_id(record: Mapping[str, Any]) -> str:
    key = "\x1f".join(
        str(record.get(k, "")) for k in ("roomId", "participantId", "componentId", "timestamp")
    )
    return "snap_" + hashlib.sha256(key.encode()).hexdigest()[:24]


def _validate(
    plan: _Plan, record: Any, refs: _Refs, tolerance: int, accept_closed: bool
) -> tuple[list[Any] | None, list[str]]:
    if not isinstance(record, Mapping):
        return None, ["record must be a JSON object"]
    dt = plan.dt
    errors: list[str] = []
    values: dict[str, Any] = {}
    for f in plan.fields:
        raw = record.get(f.name)
        if raw is None:
            if f.kind == T.ID and dt is T.COMPONENTS:
                raw = _derived_snapshot_id(record)
            elif f.required or f.kind == T.ID:
                errors.append(f"{f.name}: is required")
                continue
            else:
                values[f.name] = None
                continue
        try:
            values[f.name] = _check(f, raw, plan.max_length.get(f.name))
        except ValueError as exc:
            errors.append(f"{f.name}: {exc}")

    room = None
    room_public = values.get(plan.room_name)
    if isinstance(room_public, str):
        room = refs.rooms.get(room_public)
        if room is None:
            errors.append(f"{plan.room_name}: unknown room {room_public!r}")
    if room is not None:
        if not accept_closed and room.experiment_status in CLOSED_STATUSES:
            errors.append(
                f"{plan.room_name}: experiment {room.experiment_public_id} is "
                f"{room.experiment_status} and accepts no new data"
            )
        exp_public = values.get("experimentId")
        if exp_public is not None and exp_public != room.experiment_public_id:
            errors.append(
                f"experimentId: room {room_public} belongs to {room.experiment_public_id}, "
                f"not {exp_public}"
            )
        values["experimentId"] = room.experiment_pk
        values[plan.room_name] = room.pk

    pf = plan.participant_field
    participant_pk = None
    participant_public = values.get(pf.name)
    if isinstance(participant_public, str):
        participant_pk = refs.participants.get(participant_public)
        if participant_pk is None:
            errors.append(f"{pf.name}: unknown participant {participant_public!r}")
        elif room is not None and (room.pk, participant_pk) not in refs.roles:
            errors.append(f"{pf.name}: {participant_public} did not take part in {room_public}")
        values[pf.name] = participant_pk
    recipients = values.get("recipientIds")
    if dt is T.CHAT and isinstance(recipients, list):
        unknown = [r for r in recipients if refs.participants.get(r) is None]
        if unknown:
            errors.append(f"recipientIds: unknown participants {', '.join(map(str, unknown))}")

    timestamp = values.get(plan.timestamp_name)
    if room is not None and isinstance(timestamp, datetime):
        expected = round((timestamp - room.started_at).total_seconds() * 1000)
        onset = values.get(plan.onset_name)
        if onset is None:
            values[plan.onset_name] = expected
        elif isinstance(onset, int) and abs(onset - expected) > tolerance:
            errors.append(
                f"{plan.onset_name}: {onset} does not match the timestamp "
                f"(expected {expected} ms from the room's start, ± {tolerance} ms)"
            )
    elif values.get(plan.onset_name) is None and plan.timestamp_name in values:
        errors.append(f"{plan.onset_name}: cannot be computed without a valid timestamp and room")

    if errors:
        return None, errors

    if dt is T.EVENTS and room is not None:
        component_id = values.get("componentId")
        if not values.get("componentType") and component_id:
            values["componentType"] = refs.component_type(room.experiment_pk, component_id)
        if not values.get("content"):
            values["content"] = values["eventType"] + (f": {component_id}" if component_id else "")
        if not values.get("participantRole") and participant_pk is not None:
            values["participantRole"] = refs.roles.get((room.pk, participant_pk), "")
    return [values[f.name] if values[f.name] is not None else _blank(f) for f in plan.fields], []


def _blank(f: T.Field) -> Any:
    """Optional text columns store '' rather than NULL, as Django does."""
    return "" if f.kind in (T.STR, T.TEXT) else None


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
    index = 0
    for chunk in _chunks(records, batch_size or settings.INGEST_BATCH_SIZE):
        room_ids: set[str] = set()
        people: set[str] = set()
        for record in chunk:
            if isinstance(record, Mapping):
                if isinstance(r := record.get(plan.room_name), str):
                    room_ids.add(r)
                if isinstance(p := record.get(plan.participant_field.name), str):
                    people.add(p)
                if isinstance(rs := record.get("recipientIds"), list):
                    people.update(x for x in rs if isinstance(x, str))
        refs.load(room_ids, people)

        rows: list[list[Any]] = []
        seen: set[str] = set()
        for record in chunk:
            row, errors = _validate(plan, record, refs, tolerance, accept_closed)
            if errors:
                rid = record.get(plan.id_name) if isinstance(record, Mapping) else None
                result.errors.append(
                    RecordError(index, rid if isinstance(rid, str) else None, errors)
                )
            elif row[plan.id_pos] in seen:
                result.duplicates += 1
            else:
                seen.add(row[plan.id_pos])
                rows.append(row)
            index += 1
        result.received += len(chunk)
        if rows:
            inserted = _store(plan, rows)
            result.accepted += inserted
            result.duplicates += len(rows) - inserted
    return result


def _store(plan: _Plan, rows: list[list[Any]]) -> int:
    if connection.vendor == "postgresql":
        return _store_postgres(plan, rows)
    return _store_bulk(plan, rows)


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


def _store_bulk(plan: _Plan, rows: list[list[Any]]) -> int:
    id_pos = plan.id_pos
    existing = _existing_ids(plan, [r[id_pos] for r in rows])
    model = plan.dt.model
    objs = [
        model(**dict(zip(plan.columns, row, strict=True)))
        for row in rows
        if row[id_pos] not in existing
    ]
    with transaction.atomic():
        model.objects.bulk_create(objs, batch_size=500, ignore_conflicts=True)
    return len(objs)


def _copy_rows(plan: _Plan, rows: list[list[Any]]) -> Iterator[list[Any]]:
    json_cols = plan.json_columns
    for row in rows:
        if json_cols:
            row = list(row)
            for i in json_cols:
                if row[i] is not None:
                    row[i] = orjson.dumps(row[i]).decode()
        yield row


def _store_postgres(plan: _Plan, rows: list[list[Any]]) -> int:
    """COPY straight into the table when none of the ids is there yet (the common case);
    otherwise COPY into a temporary table and insert what is new."""
    table = connection.ops.quote_name(plan.dt.model._meta.db_table)
    cols = ", ".join(connection.ops.quote_name(c) for c in plan.columns)
    ids = [r[plan.id_pos] for r in rows]
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor
        raw.execute(
            f"SELECT record_id FROM {table} WHERE record_id = ANY(%s)",
            [ids],
        )
        existing = {r[0] for r in raw.fetchall()}
        if not existing:
            try:
                with (
                    transaction.atomic(),
                    raw.copy(f"COPY {table} ({cols}) FROM STDIN") as copy,
                ):
                    for row in _copy_rows(plan, rows):
                        copy.write_row(row)
                return len(rows)
            except (IntegrityError, psycopg.errors.UniqueViolation):
                pass  # a concurrent ingest stored some of these ids first
        raw.execute(
            f"CREATE TEMP TABLE _ingest ON COMMIT DROP AS SELECT {cols} FROM {table} WITH NO DATA"
        )
        with raw.copy(f"COPY _ingest ({cols}) FROM STDIN") as copy:
            for row in _copy_rows(plan, rows):
                copy.write_row(row)
        raw.execute(
            f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _ingest "
            "ON CONFLICT (record_id) DO NOTHING"
        )
        inserted = raw.rowcount
        raw.execute("DROP TABLE _ingest")
        return inserted
