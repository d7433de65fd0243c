"""The append-only audit log, chained by hashes so that a changed or removed entry shows.

Each entry's hash covers its content and the previous entry's hash. Only
``record`` writes entries; ``verify_chain`` recomputes them all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import orjson
from django.db import connection, transaction
from django.http import HttpRequest

from .models import AuditEntry, Experiment, Lab

GENESIS = "0" * 64
# Any constant: serialises appends on PostgreSQL so the chain has no forks.
_CHAIN_LOCK = 7_310_001


def client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def _digest(entry: AuditEntry) -> str:
    content = {
        "created_at": entry.created_at.isoformat(),
        "actor": entry.actor_label,
        "action": entry.action,
        "experiment": entry.experiment_label,
        "scope": entry.scope,
        "ip": entry.ip_address or "",
        "rows": entry.rows,
        "details": entry.details,
        "prev": entry.prev_hash,
    }
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


def record(
    action: str,
    *,
    actor: Any = None,
    request: HttpRequest | None = None,
    experiment: Experiment | None = None,
    lab: Lab | None = None,
    scope: str = "",
    rows: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    if actor is None and request is not None and request.user.is_authenticated:
        actor = request.user
    if lab is None and experiment is not None:
        lab = experiment.lab
    entry = AuditEntry(
        actor=actor if actor is not None and getattr(actor, "pk", None) else None,
        actor_label=getattr(actor, "username", "") or ("system" if actor is None else str(actor)),
        action=action,
        lab=lab,
        experiment=experiment,
        experiment_label=experiment.public_id if experiment is not None else "",
        scope=scope,
        ip_address=client_ip(request),
        rows=rows,
        details=details or {},
    )
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK])
        last = AuditEntry.objects.order_by("-id").values_list("entry_hash", flat=True).first()
        entry.prev_hash = last or GENESIS
        # Round-trip through the database's precision before hashing.
        entry.created_at = entry.created_at.replace(microsecond=entry.created_at.microsecond)
        entry.details = orjson.loads(orjson.dumps(entry.details))
        entry.entry_hash = _digest(entry)
        entry.save()
    return entry


def verify_chain() -> Iterator[str]:
    """Yield a description of every entry whose hash or link does not hold."""
    prev = GENESIS
    for entry in AuditEntry.objects.order_by("id").iterator(chunk_size=2000):
        if entry.prev_hash != prev:
            yield f"entry {entry.pk}: does not follow the entry before it (one was removed?)"
        if _digest(entry) != entry.entry_hash:
            yield f"entry {entry.pk}: content does not match its hash (it was altered)"
        prev = entry.entry_hash
