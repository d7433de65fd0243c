"""What "remove identifiers" and "aggregate only" do to an export.

Removal is ``data_browser.identity``'s Deidentifier (participant ids become
keyed-HMAC codes; names, emails and IP addresses go, also inside text and
JSON), plus room codes: a de-identified export names its room folders and
room ids by codes as well, so that no file name or cell carries an id.

Aggregation computes statistics across participants in the database; every
group that covers fewer than ``settings.AGGREGATE_MIN_GROUP`` distinct
participants is left out, so no row describes one person.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Avg, Count, F, FloatField, Max, Min, QuerySet, Sum
from django.db.models.functions import Cast, Floor

from data_browser import datatypes as T
from data_browser.access import Anonymization
from data_browser.identity import Deidentifier, participant_code, people

from .models import SELF

Record = dict[str, Any]
Transform = Callable[[T.DataType, Record], Record]


def room_code(experiment_public_id: str, room_public_id: str) -> str:
    """A room's code: the same keyed HMAC as participant codes, in a separate namespace."""
    code = participant_code(experiment_public_id, f"room\x1f{room_public_id}")
    return "room_" + code.removeprefix("anon_")


def keep(dt: T.DataType, record: Record) -> Record:
    return record


class _OwnDataDeidentifier(Deidentifier):
    """Keeps one participant's own id (their data request) and codes everyone else's."""

    def __init__(self, people: Iterable, own_id: str) -> None:
        super().__init__(p for p in people if p[1] != own_id)
        self.own_id = own_id

    def code(self, experiment_id: str, participant_id: str | None) -> str | None:
        if participant_id == self.own_id:
            return participant_id
        return super().code(experiment_id, participant_id)


def _people(experiment_id: int) -> list:
    from data_browser.models import RoomParticipant

    return list(people(RoomParticipant.objects.filter(room__experiment_id=experiment_id)))


def transform_for(
    mode: str, experiment_id: int, own_participant_id: str | None = None
) -> Transform:
    """The per-record rewrite of a file mode (keep / remove / the participant's own copy)."""
    if mode == Anonymization.KEEP:
        return keep
    everyone = _people(experiment_id)
    if mode == SELF:
        deid: Deidentifier = _OwnDataDeidentifier(everyone, own_participant_id or "")
        rooms = False
    elif mode == Anonymization.REMOVE:
        deid = Deidentifier(everyone)
        rooms = True
    else:
        raise ValueError(f"no record transform for {mode!r}")
    room_fields = {dt.key: [f.name for f in dt.fields if f.kind == T.ROOM] for dt in T.DATA_TYPES}

    def remove(dt: T.DataType, record: Record) -> Record:
        out = deid.record(dt, record)
        if rooms:
            exp = record.get("experimentId") or ""
            for name in room_fields[dt.key]:
                if out.get(name):
                    out[name] = room_code(exp, out[name])
        return out

    return remove


# Aggregate only.


@dataclass
class Summary:
    """One aggregate table: a file stem, its columns (name, meaning, unit) and its rows."""

    stem: str
    data_type: str
    columns: list[tuple[str, str, str]]
    rows: list[list[Any]] = field(default_factory=list)
    suppressed: int = 0

    @property
    def column_names(self) -> list[str]:
        return [c[0] for c in self.columns]


def _stats(prefix: str, meaning: str, unit: str = "") -> list[tuple[str, str, str]]:
    return [
        (f"{prefix}Mean", f"Mean of {meaning}", unit),
        (f"{prefix}Sd", f"Sample standard deviation of {meaning}", unit),
        (f"{prefix}Min", f"Smallest {meaning}", unit),
        (f"{prefix}Max", f"Largest {meaning}", unit),
    ]


def _stat_aggregates(prefix: str, column: str) -> dict:
    """Mean, min, max, and the sums the sample SD is computed from (SQLite's STDDEV fails on
    groups of one value)."""
    value = Cast(column, FloatField())
    return {
        f"{prefix}Mean": Avg(column),
        f"{prefix}Min": Min(column),
        f"{prefix}Max": Max(column),
        f"_{prefix}N": Count(column),
        f"_{prefix}Sum": Sum(value),
        f"_{prefix}Squares": Sum(value * value),
    }


def _sample_sd(row: dict, prefix: str) -> float | None:
    n = row.get(f"_{prefix}N") or 0
    if n < 2:
        return None
    total, squares = row[f"_{prefix}Sum"], row[f"_{prefix}Squares"]
    variance = max(0.0, (squares - total * total / n) / (n - 1))
    return math.sqrt(variance)


def _grouped(
    qs: QuerySet,
    group: dict[str, Any],
    aggregates: dict[str, Any],
    summary: Summary,
    min_group: int,
) -> Summary:
    names = summary.column_names
    fields = {f.name for f in qs.model._meta.get_fields()}
    renamed = {k: v for k, v in group.items() if k not in fields}
    rows = (
        qs.annotate(**renamed)
        .values(*group)
        .annotate(participants=Count("participant", distinct=True), **aggregates)
        .order_by(*group)
    )
    for row in rows:
        for name in names:
            if name.endswith("Sd"):
                row[name] = _sample_sd(row, name[:-2])
        if row["participants"] < min_group:
            summary.suppressed += 1
            continue
        summary.rows.append([_round(row.get(n)) for n in names])
    return summary


def _round(value: Any) -> Any:
    return round(value, 6) if isinstance(value, float) else value


def summaries(
    dt: T.DataType, qs: QuerySet, experiment_public_id: str, min_group: int | None = None
) -> Summary:
    """The aggregate table of one data type over the scoped records ``qs``, as its registry
    entry (``DataType.aggregate``) describes it; rooms are named by their codes."""
    spec = dt.aggregate
    if spec is None:
        raise ValueError(f"no aggregate for {dt.key!r}")
    n = settings.AGGREGATE_MIN_GROUP if min_group is None else min_group
    columns = [(name, meaning, "ms" if name == T.BIN else "") for name, meaning in spec.group]
    columns += [(*spec.count, ""), ("participants", spec.participants, "")]
    group: dict[str, Any] = {}
    for name, _ in spec.group:
        if name == T.BIN:
            group[name] = Floor(Cast("onset", FloatField()) / T.BIN_MS) * T.BIN_MS
        else:
            group[name] = F(dt.get_field(name).column)
    aggregates: dict[str, Any] = {spec.count[0]: Count("id")}
    for name, what in spec.stats:
        f = dt.get_field(name)
        columns += _stats(name, what, f.unit)
        aggregates.update(_stat_aggregates(name, f.column))
    for name, meaning, unit, function, source in spec.extra:
        columns.append((name, meaning, unit))
        aggregates[name] = EXTRA_FUNCTIONS[function](dt.get_field(source).column)
    summary = _grouped(qs, group, aggregates, Summary(spec.stem, dt.key, columns), n)
    for i, (name, _) in enumerate(spec.group):
        for row in summary.rows:
            if name == T.BIN:
                row[i] = int(row[i])
            elif dt.get_field(name).kind == T.ROOM:
                row[i] = room_code(experiment_public_id, row[i])
    return summary


EXTRA_FUNCTIONS = {"min": Min, "max": Max, "sum": Sum}
