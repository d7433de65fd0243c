"""A version stamp per experiment's data, changed whenever records are added or deleted.

Cached answers derived from the records (exact totals of API scopes) put the
stamps of their experiments in their cache key, so a write makes them miss
at once; the cache lifetime is only a safety net for writes made around the
product (e.g. in a database shell).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from django.core.cache import cache
from django.db import transaction

LIFETIME = 300


def _key(experiment_id: int) -> str:
    return f"data-version:{experiment_id}"


def stamp(experiment_ids: Iterable[int]) -> str:
    """The current stamps of the given experiments, as one string."""
    ids = sorted(set(experiment_ids))
    found = cache.get_many([_key(i) for i in ids])
    return ".".join(str(found.get(_key(i), 0)) for i in ids)


def bump(experiment_ids: Iterable[int]) -> None:
    """Mark the experiments' data as changed, once the surrounding transaction commits."""
    ids = set(experiment_ids)
    if not ids:
        return
    now = time.time_ns()

    def write() -> None:
        cache.set_many({_key(i): now for i in ids}, timeout=None)

    transaction.on_commit(write)
