"""What "remove identifiers", "aggregate only" and a participant's own copy do to an export.

Removal is ``data_browser.identity``'s Policy, the same one the dashboard and the API apply:
participant, room and record ids become keyed-HMAC codes (so that files join with what the
same user sees in the dashboard and the API), names and signed links go, labels, free text and
JSON payloads lose the identifiers of the people of their room. A de-identified export names
its room folders by codes as well, so no file name or cell carries an id.

Aggregation computes statistics across participants in the database; every
group that covers fewer than ``settings.AGGREGATE_MIN_GROUP`` distinct
participants is left out, so no row describes one person. Group labels (component ids, event
types, states) are scrubbed like any label.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Avg, Count, F, FloatField, Max, Min, QuerySet, Sum
from django.db.models.functions import Cast, Floor

from data_browser import datatypes as T
from data_browser.access import Anonymization
from data_browser.identity import Policy, person, room_code

from .models import SELF

Record = dict[str, Any]


def policy_for(mode: str, experiment_public_id: str, own: Any = None) -> Policy:
    """The de-identification of an export mode: identifiers kept, codes (removed identifiers
    and aggregates), or the participant ``own``'s copy of their data."""
    if mode == Anonymization.KEEP:
        return Policy.full(experiment_public_id)
    if mode == SELF:
        if own is None:
            raise ValueError("a participant's own copy needs the participant")
        return Policy.own_copy(experiment_public_id, person(own))
    if mode in (Anonymization.REMOVE, Anonymization.AGGREGATE):
        return Policy.coded(experiment_public_id)
    raise ValueError(f"no de-identification for {mode!r}")


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


def scrub_labels(summary: Summary, policy: Policy) -> Summary:
    """The group labels of an aggregate as the policy shows labels (a component id can embed
    a participant id as any label can); room codes are left as they are."""
    rooms = {i for i, name in enumerate(summary.column_names) if name == "roomId"}
    summary.rows = [
        [policy.label(v) if isinstance(v, str) and i not in rooms else v for i, v in enumerate(row)]
        for row in summary.rows
    ]
    return summary
