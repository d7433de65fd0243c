"""A real Celery worker on Redis and the test PostgreSQL database: run, cancel, kill -9."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from django.conf import settings

from data_browser import datatypes as T
from exports import services
from exports.models import ExportJob, Status
from tests.factories import bulk_events

from .conftest import open_zip, parse_csv
from .workerproc import pool_children, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.postgres]


def job_state(job):
    job.refresh_from_db()
    return job


def start(world, **kw):
    kw.setdefault("level", "room")
    kw.setdefault("room_id", world.room.public_id)
    return services.start_export(
        world.user("owner"), experiment_id=world.experiment.public_id, **kw
    )


def test_a_worker_runs_cancels_and_survives_being_killed(transactional_db, world, worker):
    # 1. Runs to success and writes a readable ZIP.
    job = start(world, fmt="zip", data_types=["events", "chat"])
    wait_for(lambda: job_state(job).is_finished, timeout=90)
    assert job.status == Status.SUCCEEDED, job.error
    rows = parse_csv(open_zip(job).read(f"{world.room.public_id}/events.csv"))
    assert len(rows) - 1 == T.EVENTS.model.objects.filter(room=world.room).count()

    bulk_events(world, 120_000)

    # 2. Cancel while it runs: it stops within a couple of seconds and keeps no file.
    job = start(world, fmt="json", data_types=["events"], anonymization="remove")
    wait_for(lambda: job_state(job).status == Status.RUNNING and job.rows_done > 0, timeout=90)
    services.cancel_export(job, world.user("owner"))
    wait_for(lambda: job_state(job).is_finished, timeout=5)
    assert job.status == Status.CANCELLED
    assert not job.file
    temp = Path(settings.EXPORT_TEMP_DIR) / job.public_id.hex
    assert not [p for p in temp.rglob("*") if p.is_file()]

    # 3. kill -9 of the process running the export: the task is delivered again and the job
    #    ends succeeded (or failed); it is never downloadable half-written.
    job = start(world, fmt="csv", data_types=["events"], anonymization="remove")
    wait_for(lambda: job_state(job).status == Status.RUNNING and job.rows_done > 0, timeout=90)
    for pid in pool_children(worker.pid):
        os.kill(pid, signal.SIGKILL)
    seen_files = []

    def finished():
        current = job_state(job)
        if not current.is_finished:
            seen_files.append(bool(current.file))
        return current.is_finished

    wait_for(finished, timeout=120)
    assert not any(seen_files)
    assert job.status in (Status.SUCCEEDED, Status.FAILED)
    assert job.attempts >= 2
    if job.status == Status.SUCCEEDED:
        with job.file.open("rb") as fh:
            lines = fh.read().count(b"\n")
        assert lines - 1 == T.EVENTS.model.objects.filter(room=world.room).count()
    assert not ExportJob.objects.filter(status=Status.QUEUED).exists()


@pytest.fixture
def piece_worker(transactional_db):
    """A worker that cuts experiment ZIPs into pieces of a few rooms."""
    from .workerproc import celery_worker

    with celery_worker({"EXPORT_CHUNK_ROWS": "50", "EXPORT_PIECE_ROWS": "40"}) as proc:
        yield proc


def test_a_worker_writes_filtered_exports_with_the_bom_on_every_path(
    transactional_db, world, piece_worker
):
    """On the worker's own read-only connection: COPY of one room, COPY across the rooms of
    each piece, the Python writer of a de-identified export; all hold the tab's rows only."""
    import codecs

    import orjson

    from data_browser.filters import record_filterset

    filters = {"category": "component", "onsetFrom": "0"}
    events = T.EVENTS.model.objects
    tab = record_filterset(T.EVENTS)(filters, queryset=events.filter(room=world.room)).qs
    whole = record_filterset(T.EVENTS)(
        filters, queryset=events.filter(experiment=world.experiment)
    ).qs
    assert 0 < tab.count() < events.filter(room=world.room).count()
    jobs = {
        "room": start(world, fmt="csv", data_types=["events"], filters=filters, csv_bom=True),
        "remove": start(
            world,
            fmt="csv",
            data_types=["events"],
            filters=filters,
            csv_bom=True,
            anonymization="remove",
        ),
        "experiment": start(
            world,
            level="experiment",
            room_id=None,
            fmt="zip",
            data_types=["events"],
            filters=filters,
            csv_bom=True,
        ),
    }
    for job in jobs.values():
        wait_for(lambda job=job: job_state(job).is_finished, timeout=120)
        assert job.status == Status.SUCCEEDED, job.error
    # merged, then removed (just after the job is marked succeeded)
    wait_for(lambda: jobs["experiment"].pieces.count() == 0, timeout=30)
    for name, job in jobs.items():
        archive = open_zip(job)
        meta = orjson.loads(archive.read("metadata.json"))
        assert meta["filtered"] and meta["csv"]["byteOrderMark"] is True
        assert meta["filters"]["onsetFrom"] == "0" and meta["filters"]["category"] == "component"
        rows = []
        for entry in archive.namelist():
            if entry.endswith(".csv"):
                data = archive.read(entry)
                assert data.startswith(codecs.BOM_UTF8), (name, entry)
                if entry.endswith("events.csv"):
                    rows += parse_csv(data.removeprefix(codecs.BOM_UTF8))[1:]
        expected = whole if name == "experiment" else tab
        assert len(rows) == expected.count() == meta["rows"], name
        if name != "remove":
            assert sorted(r[0] for r in rows) == sorted(
                expected.values_list("record_id", flat=True)
            )
