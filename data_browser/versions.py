"""A version stamp per experiment's data, changed whenever records are added or deleted.

Cached answers derived from the records (the totals of whole scopes, ``counts.kept_totals``,
read by the API and the tab counts; the counts of filtered selections, in the API and in the
dashboard's "N of M match"; the API's sparse index of deep offsets) put the stamps of their
experiments in their cache key, so a write makes them miss at once; the cache lifetime is
only a safety net for writes made around the product (e.g. in a database shell).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import QuerySet

LIFETIME = 300


def _key(experiment_id: int) -> str:
    return f"data-version:{experiment_id}"


def stamp(experiment_ids: Iterable[int]) -> str:
    """The current stamps of the given experiments, as one string."""
    ids = sorted(set(experiment_ids))
    found = cache.get_many([_key(i) for i in ids])
    return ".".join(str(found.get(_key(i), 0)) for i in ids)


def derived(
    kind: str, experiment_ids: Iterable[int], described: str, make: Callable[[], Any]
) -> Any:
    """What ``make`` derives from the records of the experiments, kept until their records
    change: under ``kind``, their stamps and a digest of ``described`` (what was asked)."""
    ids = list(experiment_ids)
    digest = hashlib.sha256(described.encode()).hexdigest()
    key = f"{kind}:{stamp(ids)}:{digest}"
    found = cache.get(key)
    if found is None:
        found = make()
        cache.set(key, found, LIFETIME)
    return found


def count(queryset: QuerySet, experiment_ids: Iterable[int]) -> int:
    """The exact number of rows of ``queryset`` (records of the experiments), counted once
    per change of their data: kept under its SQL, which holds every restriction of whoever
    asked, so readers share a count only when they read the same rows."""
    sql, params = queryset.order_by().query.sql_with_params()
    return derived("count", experiment_ids, f"{sql}\x1f{params!r}", queryset.count)


def bump(experiment_ids: Iterable[int]) -> None:
    """Mark the experiments' data as changed, once the surrounding transaction commits."""
    ids = set(experiment_ids)
    if not ids:
        return
    now = time.time_ns()

    def write() -> None:
        cache.set_many({_key(i): now for i in ids}, timeout=None)

    transaction.on_commit(write)
