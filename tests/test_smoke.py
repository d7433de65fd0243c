"""The embedded default boots on a machine with nothing configured.

Runs `migrate`, `seed_demo`, the web server and a Celery worker as separate
processes on SQLite and the filesystem broker, logs in over HTTP, fetches a
page and sends a task through the worker.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.smoke


def _embedded_env(var_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")
    }
    env["HYPERSTUDY_VAR_DIR"] = str(var_dir)
    env["DJANGO_SETTINGS_MODULE"] = "hyperstudy_dash.settings"
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _manage(env, *args, cwd=ROOT, timeout=120) -> str:
    out = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return out.stdout


def test_it_boots_logs_in_and_runs_a_task(tmp_path):
    env = _embedded_env(tmp_path / "var")
    elsewhere = tmp_path / "cwd"  # the processes' working directory: nothing may land there
    elsewhere.mkdir()
    _manage(env, "migrate", "--noinput")
    assert "participant" in _manage(env, "seed_demo")
    assert (tmp_path / "var" / "db.sqlite3").exists()
    port = _free_port()
    server = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "hyperstudy_dash.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
        ],
        cwd=elsewhere,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = subprocess.Popen(
        [
            str(BIN / "celery"),
            "-A",
            "hyperstudy_dash",
            "worker",
            "--concurrency",
            "1",
            "--loglevel",
            "WARNING",
        ],
        cwd=elsewhere,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        for _ in range(100):
            try:
                page = opener.open(f"{base}/login/", timeout=5).read().decode()
                break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("the dashboard did not start")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode(
            {"username": "owner", "password": "hyperstudy-demo", "csrfmiddlewaretoken": token}
        ).encode()
        request = urllib.request.Request(
            f"{base}/login/", data=form, headers={"Referer": f"{base}/login/"}
        )
        landing = opener.open(request, timeout=10)
        assert "/login/" not in landing.geturl()
        assert "owner" in landing.read().decode()
        assert "worker ok" in _manage(
            env, "worker_check", "--timeout", "60", cwd=elsewhere, timeout=90
        )
    finally:
        for proc in (server, worker):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    assert list(elsewhere.iterdir()) == []  # the broker's files too live under var/
