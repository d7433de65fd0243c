"""Sync metrics averaged per window and participant (``aggregationWindow``, later edition).

A window is ``floor(onset / window)`` of the room's onset, so windows of one room line up
for every participant. One record per participant, room and window; samples without an
onset belong to no window. Participant ids are de-identified as in every other answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Avg, Count, F, FloatField, Min, QuerySet
from django.db.models.functions import Cast, Floor

from data_browser import datatypes as T

from .records import Selection

AVERAGED = ("timeDrift", "playbackRate", "syncQuality", "latency", "bufferHealth")

SYNC_WINDOWS = T.Listing(
    api_name="sync",
    label="Sync metrics per window",
    scope=T.SYNC.scope,
    description="Averages of the sync metrics per participant and window.",
    sorts=("onset",),
    fields=(
        T.EXPERIMENT_ID,
        T.ROOM_ID,
        T.PARTICIPANT_ID,
        T.Field("onset", T.INT, "Start of the window (from the room's start)", unit="ms"),
        T.Field("timestamp", T.DATETIME, "Time of the window's first sample"),
        T.Field("windowMs", T.INT, "Length of the window", unit="ms"),
        T.Field("samples", T.INT, "Samples averaged"),
        *(T.SYNC.get_field(name) for name in AVERAGED),
    ),
)


@dataclass
class WindowPage:
    records: list[dict[str, Any]]
    has_more: bool


def _grouped(sel: Selection, window: int) -> QuerySet:
    averages = {f"avg_{n}": Avg(T.SYNC.get_field(n).column) for n in AVERAGED}
    order = ["w", "room__public_id", "participant__public_id"]
    if sel.order == "desc":
        order = [f"-{o}" for o in order]
    return (
        sel.queryset.exclude(onset=None)
        .annotate(w=Floor(Cast(F("onset"), FloatField()) / float(window)))
        .values("experiment__public_id", "room__public_id", "participant__public_id", "w")
        .annotate(first=Min("timestamp"), n=Count("pk"), **averages)
        .order_by(*order)
    )


def _record(sel: Selection, row: dict[str, Any], window: int) -> dict[str, Any]:
    experiment = row["experiment__public_id"]
    participant, room = row["participant__public_id"], row["room__public_id"]
    policy = sel.policies.get(experiment)  # the reader's de-identification, if any
    if policy is not None:
        participant, room = policy.participant(participant), policy.room(room)
    return {
        "experimentId": experiment,
        "roomId": room,
        "participantId": participant,
        "onset": int(row["w"]) * window,
        "timestamp": T.iso(row["first"]),
        "windowMs": window,
        "samples": row["n"],
        **{name: row[f"avg_{name}"] for name in AVERAGED},
    }


def total(sel: Selection, window: int) -> int:
    return _grouped(sel, window).count()


def page(sel: Selection, window: int, limit: int, offset: int) -> WindowPage:
    rows = list(_grouped(sel, window)[offset : offset + limit + 1])
    return WindowPage([_record(sel, r, window) for r in rows[:limit]], len(rows) > limit)


def every(sel: Selection, window: int, offset: int = 0) -> Iterator[dict[str, Any]]:
    for row in _grouped(sel, window)[offset:].iterator(chunk_size=2000):
        yield _record(sel, row, window)
