"""How values read on the dashboard's pages: times in the reader's time zone, durations in
words, numbers with separators and JSON as the Data Viewer shows it (never a Python repr).

Exports and the API keep their machine formats (ISO 8601 in UTC, milliseconds, raw JSON);
these helpers are for people reading a page.
"""

from __future__ import annotations

import json
import zoneinfo
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from django.utils import timezone

DEFAULT_ZONE = "UTC"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


@cache
def _known_zones() -> frozenset[str]:
    """The zones of this machine's time zone database, read once: reading them walks its
    directory (a few milliseconds, which every page paid to check its reader's zone)."""
    return frozenset(zoneinfo.available_timezones())


@cache
def zone_names() -> list[str]:
    """The IANA zones a reader may pick, UTC first."""
    names = sorted(n for n in _known_zones() if "/" in n and "Etc/" not in n)
    return [DEFAULT_ZONE, *names]


def valid_zone(name: str | None) -> str:
    """``name`` when it is a known zone, else UTC: a stale or hand-edited preference never
    breaks a page."""
    if name and name in _known_zones():
        return name
    return DEFAULT_ZONE


def when(value: datetime | str | None, seconds: bool = True) -> str:
    """A moment in the active time zone, e.g. ``2026-11-21 14:30:45``; "—" for none. ISO
    strings (as the records carry them) are read as well."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return value.strftime(TIME_FORMAT if seconds else "%Y-%m-%d %H:%M")


def zone_label() -> str:
    """The active zone's name as the pages label their times (``UTC``, ``Europe/Berlin``)."""
    return timezone.get_current_timezone_name()


def duration(ms: int | float | timedelta | None) -> str:
    """``20 min 0 s``, ``1 h 2 min 5 s``, ``4.2 s``, ``850 ms``; negative values keep their sign."""
    if ms is None:
        return "—"
    if isinstance(ms, timedelta):
        ms = ms.total_seconds() * 1000
    sign = "-" if ms < 0 else ""
    ms = abs(ms)
    if ms < 1000:
        return f"{sign}{ms:.0f} ms"
    if ms < 10_000:
        return f"{sign}{ms / 1000:.1f} s"
    seconds = round(ms / 1000)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{sign}{h} h {m} min {s} s"
    return f"{sign}{m} min {s} s"


def number(value: int | float | None) -> str:
    """``118,513``; floats keep up to two decimals."""
    if value is None or value == "":
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def json_text(value: Any) -> str:
    """JSON as the Data Viewer prints it: ``null``, ``true``, strings in double quotes,
    objects indented."""
    if isinstance(value, dict | list):
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return json.dumps(value, ensure_ascii=False, default=str)


def json_compact(value: Any) -> str:
    """JSON on one line: ``{"value": "no", "responseTime": 812}``."""
    return json.dumps(value, ensure_ascii=False, default=str)
