"""A real Celery worker process for integration tests, on the test database and a Redis DB.

Used by the worker fixtures of ``tests/exports/conftest.py`` and ``tests/browser/conftest.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
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
def celery_worker(extra_env: dict[str, str] | None = None, concurrency: int = 1):
    """Start ``celery worker`` against the (committed) test database; stop it afterwards."""
    import redis

    redis.Redis.from_url(redis_url()).flushdb()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": redis_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "EXPORT_TEMP_DIR": str(settings.EXPORT_TEMP_DIR),
        "DJANGO_SETTINGS_MODULE": "hyperstudy_dash.settings",
        **(extra_env or {}),
    }
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
    )
    try:
        _wait_until_ready(proc)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


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
