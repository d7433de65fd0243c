"""/healthz, /readyz and /api/v3/health: each part's state, 503 when one is down, fast.

The dependencies are taken down for real: a server process is started with its database,
Redis or storage address on a port where nothing listens, and no worker runs unless a test
starts one.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.core.cache import cache

from hyperstudy_dash import health
from tests.exports.workerproc import celery_worker, wait_for

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PARTS = {"database", "broker", "storage", "worker"}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, dict, float]:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    return status, json.loads(body), time.monotonic() - started


@contextmanager
def server(tmp_path: Path, **env: str):
    """gunicorn on a free port with the given settings; yields its base URL."""
    port = _closed_port()
    environ = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "MEDIA_ROOT")
    }
    environ |= {
        "HYPERSTUDY_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SETTINGS_MODULE": "hyperstudy_dash.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        **env,
    }
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(BIN / "gunicorn"), "hyperstudy_dash.wsgi", "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=environ,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: proc.poll() is None and _answers(base), timeout=60)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def _answers(base: str) -> bool:
    try:
        return _get(f"{base}/healthz")[0] == 200
    except OSError:
        return False


def _assert_reveals_nothing(body: dict, port: int) -> None:
    assert set(body) == {"status", "checks"}
    assert set(body["checks"]) == PARTS
    assert set(body["checks"].values()) <= {"ok", "down"}
    assert str(port) not in json.dumps(body)


def test_healthz_answers_without_asking_anything(client):
    response = client.get("/healthz")  # no db fixture: a query would raise
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_readyz_without_a_worker_heartbeat_names_the_worker(client, db):
    cache.delete(health.HEARTBEAT_KEY)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "broker": "ok", "storage": "ok", "worker": "down"},
    }


def test_readyz_needs_a_heartbeat_younger_than_a_minute(client, db):
    cache.set(health.HEARTBEAT_KEY, time.time() - health.HEARTBEAT_MAX_AGE - 1)
    assert client.get("/readyz").json()["checks"]["worker"] == "down"
    cache.set(health.HEARTBEAT_KEY, time.time() - 5)
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "broker": "ok", "storage": "ok", "worker": "ok"},
    }


def test_health_endpoints_refuse_writes(client, db):
    assert client.post("/readyz").status_code == 405
    assert client.post("/healthz").status_code == 405


def test_api_health_needs_no_key(client, db):
    response = client.get("/api/v3/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["version"] == "3.0.0"
    assert body["timestamp"].endswith("Z") and len(body["timestamp"]) == 24
    assert body["checks"] == {"database": "ok", "broker": "ok"}


@pytest.mark.worker
def test_a_running_worker_makes_readyz_ready(transactional_db, client):
    cache.delete(health.HEARTBEAT_KEY)
    with celery_worker():
        wait_for(lambda: client.get("/readyz").status_code == 200, timeout=30)
    body = client.get("/readyz").json()
    assert body["checks"]["worker"] == "ok"


@pytest.mark.smoke
def test_readyz_names_a_database_where_nothing_listens_within_two_seconds(tmp_path):
    port = _closed_port()
    with server(tmp_path, DATABASE_URL=f"postgres://postgres@127.0.0.1:{port}/hs") as base:
        status, body, seconds = _get(f"{base}/readyz")
        api_status, api_body, api_seconds = _get(f"{base}/api/v3/health")
        live = _get(f"{base}/healthz")[0]
    assert status == 503
    assert body["checks"]["database"] == "down"
    assert body["checks"]["broker"] == "ok"  # the embedded broker
    _assert_reveals_nothing(body, port)
    assert seconds < 2.0
    assert (api_status, api_body["status"]) == (503, "degraded")
    assert api_body["checks"] == {"database": "down", "broker": "ok"}
    assert api_seconds < 2.0
    assert live == 200


@pytest.mark.smoke
def test_readyz_names_a_broker_where_nothing_listens_within_two_seconds(tmp_path):
    port = _closed_port()
    with server(tmp_path, REDIS_URL=f"redis://127.0.0.1:{port}/0") as base:
        status, body, seconds = _get(f"{base}/readyz")
        api_status, api_body, _ = _get(f"{base}/api/v3/health")
    assert status == 503
    assert body["checks"] == {
        "database": "ok",
        "broker": "down",
        "storage": "ok",
        "worker": "down",  # its heartbeat lives in the same Redis
    }
    _assert_reveals_nothing(body, port)
    assert seconds < 2.0
    assert (api_status, api_body["checks"]) == (503, {"database": "ok", "broker": "down"})


@pytest.mark.smoke
def test_readyz_names_storage_where_nothing_listens_within_two_seconds(tmp_path):
    port = _closed_port()
    with server(
        tmp_path,
        AWS_STORAGE_BUCKET_NAME="hyperstudy",
        AWS_S3_ENDPOINT_URL=f"http://127.0.0.1:{port}",
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
    ) as base:
        status, body, seconds = _get(f"{base}/readyz")
    assert status == 503
    assert body["checks"]["storage"] == "down"
    assert body["checks"]["database"] == "ok"
    _assert_reveals_nothing(body, port)
    assert seconds < 2.0
