"""Export test helpers: run jobs in-process (Celery eager), read their files back."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest

from exports import services
from tests.exports.workerproc import celery_worker


@pytest.fixture
def eager():
    from hyperstudy_dash.celery import app

    before = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = before


@pytest.fixture
def export(world, eager, django_capture_on_commit_callbacks):
    """``export(role, **start_export kwargs)`` runs a job to its end in this process."""

    def make(role: str = "owner", **kw):
        kw.setdefault("experiment_id", world.experiment.public_id)
        with django_capture_on_commit_callbacks(execute=True):
            job = services.start_export(world.user(role), **kw)
        job.refresh_from_db()
        return job

    return make


@pytest.fixture
def worker(transactional_db):
    with celery_worker({"EXPORT_CHUNK_ROWS": "500"}) as proc:
        yield proc


def content(job) -> bytes:
    with job.file.open("rb") as fh:
        return fh.read()


def open_zip(job) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(content(job)))


def parse_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode())))
