"""The experiment overview: what is in an experiment at a glance, before its rooms.

Rooms and participants by status, records per type and when the latest arrived (from the
quality report the page reads anyway) and the retention date with what it will delete. The
reader's recent exports beside them are the exports app's (``{% recent_exports %}``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import Count, QuerySet

from . import quality
from .governance.deletion import Scope, plan_deletion
from .models import Experiment, Room, RoomParticipant


@dataclass
class Overview:
    experiment: Experiment
    rooms: list[tuple[str, str, int]]  # (status, label, count)
    participants: list[tuple[str, str, int]]
    report: quality.Report
    retention_until: date | None
    member: bool
    retention_records: int | None = None  # what the retention run will delete, for members
    retention_files: int | None = None

    @property
    def room_total(self) -> int:
        return sum(n for _, _, n in self.rooms)

    @property
    def participant_total(self) -> int:
        return sum(n for _, _, n in self.participants)

    @property
    def record_total(self) -> int:
        return sum(t.count for t in self.report.types)

    @property
    def last_arrival(self) -> datetime | None:
        stamps = [t.last for t in self.report.types if t.last is not None]
        return max(stamps) if stamps else None


def by_status(qs: QuerySet, choices: list[tuple[str, str]]) -> list[tuple[str, str, int]]:
    counts = dict(qs.order_by().values_list("status").annotate(n=Count("id")))
    return [(value, label, counts.get(value, 0)) for value, label in choices]


def build(
    experiment: Experiment,
    rooms: QuerySet,
    room_participants: QuerySet,
    report: quality.Report,
    *,
    member: bool,
) -> Overview:
    """``rooms`` and ``room_participants`` come from the access layer, already scoped to the
    reader; the retention counts (all of the experiment's data) only for members."""
    view = Overview(
        experiment=experiment,
        rooms=by_status(rooms, Room.Status.choices),
        participants=by_status(room_participants, RoomParticipant.Status.choices),
        report=report,
        retention_until=experiment.retention_until,
        member=member,
    )
    if member and experiment.retention_until is not None:
        plan = plan_deletion(Scope(experiment))
        view.retention_records, view.retention_files = plan.records, plan.files
    return view
