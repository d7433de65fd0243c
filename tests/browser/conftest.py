"""Worker fixtures for browser tests: a real Celery worker on the live server's database."""

from __future__ import annotations

import pytest

from tests.exports.workerproc import celery_worker


@pytest.fixture
def export_worker(transactional_db, live_server):
    """A Celery worker process consuming the test Redis DB, on the committed test database."""
    with celery_worker({"EXPORT_CHUNK_ROWS": "200"}) as proc:
        yield proc
