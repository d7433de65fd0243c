"""The data quality panel: how much of each type arrived, when, how complete, and what looks wrong.

Everything is computed with one aggregate query per data type (plus two for completeness),
whatever the number of rows, and kept in the cache briefly: at a million events the
experiment-level panel costs a few hundred milliseconds once, then nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db.models import (
    Count,
    F,
    FloatField,
    Func,
    Max,
    Min,
    Q,
    QuerySet,
    Value,
)
from django.db.models.functions import Abs
from django.db.models.lookups import GreaterThan

from . import datatypes as T

ONSET_MISMATCH = "onset_mismatch"
MISSING_FIELDS = "missing_fields"
AFTER_END = "after_end"
ISSUE_CHOICES = (
    (ONSET_MISMATCH, "Onset does not match the timestamp"),
    (MISSING_FIELDS, "Expected fields missing"),
    (AFTER_END, "Recorded after the room ended"),
)
ISSUE_LABELS = dict(ISSUE_CHOICES)
CACHE_SECONDS = 120


class EpochMs(Func):
    """Milliseconds since 1970 of a datetime column, on PostgreSQL and SQLite alike."""

    output_field = FloatField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(
            compiler, connection, template="(EXTRACT(EPOCH FROM %(expressions)s) * 1000)", **extra
        )

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(
            compiler,
            connection,
            template="((julianday(%(expressions)s) - 2440587.5) * 86400000.0)",
            **extra,
        )


def _tolerance() -> int:
    return int(getattr(settings, "INGEST_ONSET_TOLERANCE_MS", 1000))


def _participant_column(dt: T.DataType) -> str:
    return next(f for f in dt.fields if f.kind == T.PARTICIPANT).attname


def _missing_q(dt: T.DataType) -> Q:
    q = Q(**{f"{_participant_column(dt)}__isnull": True})
    for name in dt.expected:
        f = dt.get_field(name)
        column = "file" if f.kind == T.URL else f.column
        q |= Q(**{f"{column}__isnull": True})
        if f.kind in (T.STR, T.TEXT, T.URL):
            q |= Q(**{column: ""})
    return q


def issue_q(dt: T.DataType, issue: str) -> Q:
    """The rows of ``dt`` that have ``issue``; used by the panel's counts and by the table
    filter its warnings link to, so both always agree."""
    if issue == ONSET_MISMATCH:
        drift = Abs(EpochMs("timestamp") - EpochMs("room__started_at") - F("onset"))
        return Q(GreaterThan(drift, Value(float(_tolerance()))))
    if issue == AFTER_END:
        return Q(room__ended_at__isnull=False, timestamp__gt=F("room__ended_at"))
    if issue == MISSING_FIELDS:
        return _missing_q(dt)
    raise ValueError(issue)


@dataclass
class TypeQuality:
    key: str
    count: int
    first: datetime | None
    last: datetime | None
    issues: dict[str, int] = field(default_factory=dict)

    @property
    def dt(self) -> T.DataType:
        return T.BY_KEY[self.key]


@dataclass
class Completeness:
    label: str
    have: int
    expected: int

    @property
    def percent(self) -> float:
        return 100.0 * self.have / self.expected if self.expected else 100.0


@dataclass
class Report:
    types: list[TypeQuality]
    completeness: list[Completeness]

    @property
    def warnings(self) -> list[tuple[TypeQuality, str, int]]:
        return [(t, issue, n) for t in self.types for issue, n in t.issues.items() if n]


def _type_quality(dt: T.DataType, qs: QuerySet) -> TypeQuality:
    aggregates = {
        "n": Count("id"),
        "first": Min("timestamp"),
        "last": Max("timestamp"),
        **{issue: Count("id", filter=issue_q(dt, issue)) for issue, _ in ISSUE_CHOICES},
    }
    row = qs.order_by().aggregate(**aggregates)
    return TypeQuality(
        key=dt.key,
        count=row["n"],
        first=row["first"],
        last=row["last"],
        issues={issue: row[issue] for issue, _ in ISSUE_CHOICES},
    )


def _per_participant(dt: T.DataType, records: QuerySet, expected: int) -> Completeness:
    have = records.order_by().values("room_id", "participant_id").distinct().count()
    return Completeness(dt.coverage.label, min(have, expected), expected)


def _per_shared_room(
    dt: T.DataType, records: QuerySet, room_participants: QuerySet
) -> Completeness:
    shared = (
        room_participants.order_by()
        .values("room_id")
        .annotate(n=Count("id"))
        .filter(n__gte=2)
        .values("room_id")
    )
    have = records.filter(room_id__in=shared).order_by().values("room_id").distinct().count()
    return Completeness(dt.coverage.label, have, shared.count())


def report(
    scope_records, room_participants: QuerySet, *, video: bool, multi: bool, cache_key: str
) -> Report:
    """``scope_records(dt)`` gives the scoped queryset of a type; ``room_participants`` are the
    people expected to have produced data in the scope."""
    cached = cache.get(cache_key)
    if cached is not None:
        return cached
    types = [_type_quality(dt, scope_records(dt)) for dt in T.DATA_TYPES]
    completeness: list[Completeness] = []
    expected_people = room_participants.count()
    for dt in T.DATA_TYPES:
        if dt.coverage is None:
            continue
        if dt.coverage.per == T.PER_PARTICIPANT and video:
            completeness.append(_per_participant(dt, scope_records(dt), expected_people))
        if dt.coverage.per == T.PER_SHARED_ROOM and multi:
            completeness.append(_per_shared_room(dt, scope_records(dt), room_participants))
    result = Report(types=types, completeness=completeness)
    cache.set(cache_key, result, CACHE_SECONDS)
    return result
