"""Liveness and readiness: /healthz, /readyz, and the checks /api/v3/health shares.

A load balancer or a lab's monitoring calls these every few seconds without a session or a key,
so they are cheap and say nothing but each part's state: no host names, versions of servers or
error texts (those go to the log). A dead dependency must not make the probe hang: the database
is asked on the request's own (usually kept) connection with the short ``connect_timeout`` of
the settings, and the other parts run side by side under one deadline.

The worker part is a heartbeat each Celery worker's main process writes into the cache every
``HEARTBEAT_SECONDS`` (a bootstep, so a worker busy with long exports still beats); ready needs
one younger than ``HEARTBEAT_MAX_AGE``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import UTC, datetime
from functools import cache as memoize

from celery import bootsteps
from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import FileSystemStorage, storages
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

log = logging.getLogger(__name__)

HEARTBEAT_KEY = "health:worker-heartbeat"
HEARTBEAT_SECONDS = 15
HEARTBEAT_MAX_AGE = 60
DEADLINE_SECONDS = 1.5  # for the parts beside the database; /readyz answers within 2 s
OK, DOWN = "ok", "down"

_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="health")


def check_database() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        # A broken kept connection would fail every later request of this thread too.
        connection.close()
        raise


@memoize
def broker_client(url: str):
    """One Redis client (and connection pool) per broker URL, with short timeouts."""
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)


def check_broker() -> bool:
    url = settings.CELERY_BROKER_URL
    if url.startswith(("redis://", "rediss://", "unix://")):
        return bool(broker_client(url).ping())
    if url.startswith("filesystem://"):
        folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]
        return os.path.isdir(folder) and os.access(folder, os.W_OK)
    raise ValueError(f"no check for the broker {url.split(':', 1)[0]}")


def check_storage() -> bool:
    storage = storages["default"]
    if isinstance(storage, FileSystemStorage):
        location = storage.location
        os.makedirs(location, exist_ok=True)  # as the first saved file would
        return os.access(location, os.W_OK)
    storage.exists("health-probe")  # one HEAD request; raises when the store is unreachable
    return True


def check_worker() -> bool:
    beat = cache.get(HEARTBEAT_KEY)
    return beat is not None and time.time() - float(beat) <= HEARTBEAT_MAX_AGE


CHECKS: dict[str, Callable[[], bool]] = {
    "database": check_database,
    "broker": check_broker,
    "storage": check_storage,
    "worker": check_worker,
}


def _state(name: str, outcome: Callable[[], bool]) -> str:
    try:
        if outcome():
            return OK
        log.warning("health: %s is down", name)
    except Exception as exc:
        log.warning("health: %s is down (%s: %s)", name, type(exc).__name__, exc)
    return DOWN


def run_checks(names: tuple[str, ...]) -> dict[str, str]:
    """Each named part's state, ``ok`` or ``down``; a part that has not answered by the
    deadline is down."""
    others = {n: _pool.submit(_state, n, CHECKS[n]) for n in names if n != "database"}
    states = {"database": _state("database", check_database)} if "database" in names else {}
    done, _ = wait(others.values(), timeout=DEADLINE_SECONDS)
    for name, future in others.items():
        if future in done:
            states[name] = future.result()
        else:
            log.warning("health: %s did not answer within %.1f s", name, DEADLINE_SECONDS)
            states[name] = DOWN
    return {name: states[name] for name in names}


def _answer(body: dict, ready: bool) -> JsonResponse:
    return JsonResponse(body, status=200 if ready else 503)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Touches nothing else, so a restart is never triggered
    by a dependency's outage."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: database, broker, storage and a worker heartbeat; 503 when one is down."""
    states = run_checks(tuple(CHECKS))
    ready = all(state == OK for state in states.values())
    return _answer({"status": "ready" if ready else "unavailable", "checks": states}, ready)


def api_health(version: str) -> JsonResponse:
    """``GET /api/v3/health`` as the API overview page shows it: database and broker."""
    states = run_checks(("database", "broker"))
    healthy = all(state == OK for state in states.values())
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    body = {"status": "healthy" if healthy else "degraded", "version": version}
    body |= {"timestamp": now, "checks": states}
    return _answer(body, healthy)


def beat() -> None:
    cache.set(HEARTBEAT_KEY, time.time(), timeout=HEARTBEAT_MAX_AGE * 5)


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Writes the heartbeat /readyz reads, from the worker's main process on its timer."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs) -> None:
        self.timer_ref = None

    def start(self, worker) -> None:
        self._beat()
        self.timer_ref = worker.timer.call_repeatedly(HEARTBEAT_SECONDS, self._beat, priority=10)

    def stop(self, worker) -> None:
        if self.timer_ref is not None:
            self.timer_ref.cancel()
            self.timer_ref = None

    def _beat(self) -> None:
        try:
            beat()
        except Exception as exc:  # the cache is down: /readyz says so; the worker goes on
            log.warning("health: could not write the worker heartbeat (%s)", exc)
