"""What the console shows: refusals as one line, JSON by setting, nothing else changed."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from hyperstudy_dash import logs
from tests.conftest import login_client

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def console():
    """The configured console handler, writing into a buffer for the test."""
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield buffer
    finally:
        handler.setStream(previous)


@pytest.mark.django_db
def test_a_missing_page_is_one_line_without_a_traceback(client, world):
    login_client(client, world, "owner")
    with console() as out:
        assert client.get("/e/exp_nowhere/").status_code == 404
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert "Not Found: /e/exp_nowhere/" in lines[0]
    assert "Traceback" not in out.getvalue()


@pytest.mark.django_db
def test_a_forbidden_action_is_one_line_without_a_traceback(client, world):
    login_client(client, world, "viewer")
    with console() as out:
        response = client.post(
            f"/access/{world.experiment.public_id}/members/",
            {"identifier": "nobody", "role": "collaborator", "export_right": "aggregate"},
        )
    assert response.status_code == 403
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and "Forbidden" in lines[0]
    assert "Traceback" not in out.getvalue()


def test_an_unexpected_error_keeps_its_traceback():
    record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "boom", None, None)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    record.status_code = 500
    assert logs.QuietRefusals().filter(record)
    assert record.exc_info is not None


def test_json_logs_by_setting(tmp_path):
    code = (
        "import django, logging; django.setup(); "
        "logging.getLogger('hyperstudy.test').warning('export %s', 'done', extra={'job': 7})"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "hyperstudy_dash.settings",
            "HYPERSTUDY_VAR_DIR": str(tmp_path),
            "LOG_FORMAT": "json",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["level"] == "WARNING"
    assert line["logger"] == "hyperstudy.test"
    assert line["message"] == "export done"
    assert line["job"] == 7
    assert "time" in line


def test_an_unknown_log_format_stops_start_up(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "hyperstudy_dash.settings",
            "HYPERSTUDY_VAR_DIR": str(tmp_path),
            "LOG_FORMAT": "xml",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "LOG_FORMAT must be text or json, got 'xml'" in result.stderr
