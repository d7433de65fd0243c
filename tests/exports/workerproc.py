"""A real Celery worker process for integration tests, on the test database and a Redis DB.

Used by the worker fixtures of ``tests/exports/conftest.py`` and ``tests/browser/conftest.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager, suppress
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    s = connection.settings_dict
    user = s.get("USER") or "postgres"
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{s['NAME']}"


def redis_url() -> str:
    return os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/2"


@contextmanager
def celery_worker(
    extra_env: dict[str, str] | None = None,
    concurrency: int = 1,
    *,
    flush: bool = True,
):
    """Start ``celery worker`` against the (committed) test database, in a process group of
    its own; stop the whole group afterwards. Its Redis
    database is emptied first unless ``flush`` is False (tasks queued while no worker ran)."""
    import redis

    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": redis_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "EXPORT_TEMP_DIR": str(settings.EXPORT_TEMP_DIR),
        "DJANGO_SETTINGS_MODULE": "hyperstudy_dash.settings",
        **(extra_env or {}),
    }
    if flush:
        redis.Redis.from_url(env["REDIS_URL"]).flushdb()
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    log = open(ROOT / "test-artifacts" / "celery-worker.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("celery")),
            "-A",
            "hyperstudy_dash",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: a test can kill -9 all of it
    )
    try:
        _wait_until_ready(proc)
        yield proc
    finally:
        _stop_group(proc)
        log.close()


def kill_group(proc: subprocess.Popen) -> None:
    """``kill -9`` of the worker's whole process group (main process and pool)."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    wait_for(lambda: _group_gone(proc.pid), timeout=20)


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def _stop_group(proc: subprocess.Popen) -> None:
    """Warm shutdown (SIGTERM to the main process only: it lets running tasks finish), then
    ``kill -9`` of whatever of the group is left."""
    with suppress(ProcessLookupError, subprocess.TimeoutExpired):
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # pool processes left behind, if any
    proc.wait()


def _wait_until_ready(proc: subprocess.Popen, timeout: float = 60) -> None:
    """Ready when it has forked its pool child."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the Celery worker exited; see test-artifacts/celery-worker.log")
        if pool_children(proc.pid):
            time.sleep(1.0)
            return
        time.sleep(0.2)
    raise RuntimeError("the Celery worker did not start in time")


def pool_children(pid: int) -> list[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False
    ).stdout
    return [int(p) for p in out.split()]


def wait_for(predicate, timeout: float = 60, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"gave up waiting after {timeout}s")
