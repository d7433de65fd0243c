"""Settings come from the environment and fail loudly when a value is malformed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _check(env_overrides: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(env_overrides)
    # Set in this process by the Playwright fixture (tests/conftest.py); never in deployment.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_names_a_malformed_database_url(tmp_path):
    result = _check({"DATABASE_URL": "not a url", "HYPERSTUDY_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "DATABASE_URL is not a valid database URL" in result.stderr


def test_it_names_a_malformed_number(tmp_path):
    result = _check({"SIGNED_URL_MAX_AGE": "soon", "HYPERSTUDY_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "SIGNED_URL_MAX_AGE must be a whole number" in result.stderr


def test_it_passes_the_deploy_check_with_production_settings(tmp_path):
    result = _check(
        {
            "DJANGO_SECRET_KEY": "a-long-random-production-secret-" + "x9Q!" * 12,
            "DJANGO_SECURE": "1",
            "DJANGO_DEBUG": "0",
            "HYPERSTUDY_VAR_DIR": str(tmp_path),
        },
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert result.returncode == 0, result.stderr + result.stdout
