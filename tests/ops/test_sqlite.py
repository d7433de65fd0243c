"""The embedded mode's SQLite pragmas hold wherever DATABASE_URL puts the file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRAGMAS = (
    "import django, json; django.setup(); from django.db import connection; "
    "c = connection.cursor(); "
    "print(json.dumps({p: c.execute(f'PRAGMA {p}').fetchone()[0] "
    "for p in ('journal_mode', 'busy_timeout', 'foreign_keys', 'synchronous')}))"
)


def _pragmas(tmp_path: Path, database_url: str | None) -> dict:
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "hyperstudy_dash.settings",
        "HYPERSTUDY_VAR_DIR": str(tmp_path / "var"),
    }
    if database_url:
        env["DATABASE_URL"] = database_url
    result = subprocess.run(
        [sys.executable, "-c", PRAGMAS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    "where", ["default", "absolute", "relative"], ids=["var-default", "elsewhere", "relative"]
)
def test_every_sqlite_path_gets_wal_busy_timeout_and_foreign_keys(tmp_path, where):
    urls = {
        "default": None,
        "absolute": f"sqlite:///{tmp_path}/elsewhere/lab.sqlite3",
        "relative": "sqlite:///var-relative-test.sqlite3",
    }
    (tmp_path / "elsewhere").mkdir()
    try:
        pragmas = _pragmas(tmp_path, urls[where])
    finally:
        (ROOT / "var-relative-test.sqlite3").unlink(missing_ok=True)
        for suffix in ("-wal", "-shm"):
            (ROOT / f"var-relative-test.sqlite3{suffix}").unlink(missing_ok=True)
    assert pragmas == {
        "journal_mode": "wal",
        "busy_timeout": 20000,
        "foreign_keys": 1,
        "synchronous": 1,  # NORMAL
    }
