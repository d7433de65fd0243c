"""How three data types read in the Data Viewer besides their table, as the interface guide
describes them: text chat as a transcript, recordings as cards, sync metrics with a summary
and colour bands. Each works on the rows the page already reads (or, for the sync summary, one
aggregate query over the filtered scope), through the same access path as the table.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import Avg, Count, Max, Q, QuerySet
from django.db.models.functions import Abs

from . import datatypes as T

# Sync drift bands (milliseconds of absolute drift), as the interface guide defines them.
GOOD_DRIFT_MS = 100
FAIR_DRIFT_MS = 500
BAND_LABELS = {
    "good": "Excellent (< 100 ms)",
    "fair": "Acceptable (100 to 500 ms)",
    "poor": "Poor (> 500 ms)",
}
SENDER_COLOURS = 8


def drift_band(drift_ms: float | None) -> str | None:
    """``good`` below 100 ms of drift either way, ``fair`` up to 500 ms, ``poor`` beyond."""
    if drift_ms is None:
        return None
    drift = abs(drift_ms)
    if drift < GOOD_DRIFT_MS:
        return "good"
    if drift <= FAIR_DRIFT_MS:
        return "fair"
    return "poor"


@dataclass
class SyncSummary:
    samples: int
    average_drift: float | None  # mean absolute drift, ms
    max_drift: float | None  # largest absolute drift, ms
    quality_percent: float | None  # mean syncQuality as a percentage
    bands: dict[str, int]

    @property
    def average_band(self) -> str | None:
        return drift_band(self.average_drift)

    @property
    def max_band(self) -> str | None:
        return drift_band(self.max_drift)

    def band_rows(self) -> list[tuple[str, str, int, float]]:
        total = sum(self.bands.values()) or 1
        return [(b, BAND_LABELS[b], n, 100 * n / total) for b, n in self.bands.items()]


def sync_summary(qs: QuerySet) -> SyncSummary:
    """Average and maximum drift, sync quality and samples of the filtered metrics, with how
    many fall in each colour band (one aggregate query)."""
    drift = Abs("time_drift")
    figures = qs.order_by().aggregate(
        samples=Count("id"),
        average=Avg(drift),
        largest=Max(drift),
        quality=Avg("sync_quality"),
        **{band: Count("id", filter=_band_filter(band)) for band in BAND_LABELS},
    )
    quality = figures["quality"]
    return SyncSummary(
        samples=figures["samples"],
        average_drift=figures["average"],
        max_drift=figures["largest"],
        quality_percent=None if quality is None else 100 * quality,
        bands={"good": figures["good"], "fair": figures["fair"], "poor": figures["poor"]},
    )


def _band_filter(band: str) -> Q:
    """The metrics of one band, by absolute drift: good < 100 ms ≤ fair ≤ 500 ms < poor."""
    if band == "good":
        return Q(time_drift__gt=-GOOD_DRIFT_MS, time_drift__lt=GOOD_DRIFT_MS)
    if band == "fair":
        return Q(time_drift__gte=GOOD_DRIFT_MS, time_drift__lte=FAIR_DRIFT_MS) | Q(
            time_drift__lte=-GOOD_DRIFT_MS, time_drift__gte=-FAIR_DRIFT_MS
        )
    return Q(time_drift__gt=FAIR_DRIFT_MS) | Q(time_drift__lt=-FAIR_DRIFT_MS)


# Text chat: a transcript.


@dataclass
class ChatLine:
    record: dict
    sender: str
    colour: int
    mine: bool


def sender_colour(ref: str) -> int:
    """A stable colour slot per sender, the same on every page and reload."""
    return int(hashlib.blake2s(ref.encode(), digest_size=2).hexdigest(), 16) % SENDER_COLOURS


def transcript(records: list[dict], people: Any) -> list[ChatLine]:
    """The messages of the page in the order they were sent (the table may be sorted otherwise)."""
    ordered = sorted(records, key=lambda r: (r.get("timestamp") or "", r.get("messageId") or ""))
    lines = []
    for r in ordered:
        ref = r.get("senderId") or "unknown"
        label = people.label(ref) if people is not None else ref
        lines.append(ChatLine(r, label, sender_colour(ref), bool(people and people.is_own(ref))))
    return lines


# Recordings: cards.


def recording_cards(records: list[dict]) -> list[dict]:
    """The recordings of the page, oldest first, each with what its card shows."""
    return sorted(records, key=lambda r: r.get("startTime") or "")


# What a tab shows besides its table, by ``DataType.shown_as``: from the page's records, the
# reader's view of the people and the filtered scope.
EXTRAS: dict[str, Callable[[list[dict], Any, QuerySet], dict[str, Any]]] = {
    "": lambda records, people, qs: {},
    "transcript": lambda records, people, qs: {"transcript": transcript(records, people)},
    "cards": lambda records, people, qs: {"cards": recording_cards(records)},
    "summary": lambda records, people, qs: {"sync": sync_summary(qs)},
}
for _dt in T.DATA_TYPES:  # a type that names no presentation fails at import, not on its tab
    if _dt.shown_as not in EXTRAS:
        raise ValueError(f"{_dt.key}: no presentation {_dt.shown_as!r}")


def extras(dt: T.DataType, records: list[dict], people: Any, qs: QuerySet) -> dict[str, Any]:
    """What the tab shows above (or instead of) its table."""
    return EXTRAS[dt.shown_as](records, people, qs)
