"""Faults a real worker meets mid-export: its whole process group killed with ``kill -9``,
the Redis it talks to restarted, its database connection terminated in the middle of a
``COPY``. Each time the job ends (succeeded with a complete file, or failed with a plain
message) within two minutes, and the download URL, polled all along, never serves a file
that is not the finished one.

The worker sends heartbeats every second and counts as lost after four (the settings
``EXPORT_HEARTBEAT_SECONDS`` and ``EXPORT_LOST_AFTER``, small here so a test takes seconds).
"""

from __future__ import annotations

import hashlib
import io
import shutil
import socket
import subprocess
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.urls import reverse

from data_browser import datatypes as T
from exports import services
from exports.models import ExportJob, Status
from tests.factories import bulk_events

from .conftest import parse_csv
from .workerproc import celery_worker, kill_group, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.postgres]

ROWS = 200_000  # a de-identified export of them runs a few seconds, long enough to be hit
LOST_AFTER = 4
WORKER_ENV = {
    "EXPORT_CHUNK_ROWS": "500",
    "EXPORT_HEARTBEAT_SECONDS": "1",
    "EXPORT_LOST_AFTER": str(LOST_AFTER),
}
ENDS_WITHIN = 120  # seconds from the fault to the job's end


@pytest.fixture
def big_room(transactional_db, world, settings):
    settings.EXPORT_LOST_AFTER = LOST_AFTER  # this process judges lost workers the same way
    bulk_events(world, ROWS)
    return world


@pytest.fixture
def owner(client, big_room):
    client.force_login(big_room.user("owner"))
    return client


def start(world, **kw):
    kw.setdefault("level", "room")
    kw.setdefault("room_id", world.room.public_id)
    kw.setdefault("data_types", ["events"])
    return services.start_export(
        world.user("owner"), experiment_id=world.experiment.public_id, **kw
    )


def mid_flight(job) -> bool:
    job.refresh_from_db()
    assert not job.is_finished, f"the export ended before the fault ({job.status})"
    return job.status == Status.RUNNING and job.rows_done > 0


class DownloadWatch:
    """Polls the job's download URL until the job ends: every answer before the end must be
    a 404, and every file served must be the finished one (its SHA-256)."""

    def __init__(self, client, job: ExportJob) -> None:
        self.client = client
        self.job = job
        self.url = reverse("exports:download", args=[job.public_id])
        self.refused = 0
        self.served: list[bytes] = []

    def poll(self) -> bool:
        response = self.client.get(self.url)
        if response.status_code == 200:
            self.served.append(b"".join(response.streaming_content))
        else:
            assert response.status_code == 404, response.status_code
            self.refused += 1
        self.job.refresh_from_db()
        return self.job.is_finished

    def until_finished(self, timeout: float = ENDS_WITHIN) -> float:
        """Seconds it took."""
        began = time.monotonic()
        wait_for(self.poll, timeout=timeout, interval=0.3)
        self.poll()  # one more look at the finished job
        return time.monotonic() - began

    def check(self) -> None:
        job = self.job
        assert self.refused > 0  # it was polled while the job ran
        assert job.status in (Status.SUCCEEDED, Status.FAILED), job.status
        if job.status == Status.FAILED:
            assert job.error and not job.file and not self.served
            return
        assert self.served, "a succeeded job must be downloadable"
        for body in self.served:
            assert hashlib.sha256(body).hexdigest() == job.sha256


def events_in_file(job: ExportJob, body: bytes) -> int:
    """Data rows of the events file, read as a researcher would (ZIP entry or CSV)."""
    if job.fmt == "zip":
        archive = zipfile.ZipFile(io.BytesIO(body))
        assert archive.testzip() is None
        (name,) = [n for n in archive.namelist() if n.endswith("/events.csv")]
        body = archive.read(name)
    rows = parse_csv(body)
    assert rows[0] == T.EVENTS.field_names
    return len(rows) - 1


def assert_complete(watch: DownloadWatch, world) -> None:
    watch.check()
    job = watch.job
    if job.status == Status.SUCCEEDED:
        expected = T.EVENTS.model.objects.filter(room=world.room).count()
        assert events_in_file(job, watch.served[-1]) == expected


def test_kill_9_of_the_whole_worker_group_mid_export(owner, big_room):
    with celery_worker(WORKER_ENV) as first:
        job = start(big_room, fmt="zip", anonymization="remove")
        watch = DownloadWatch(owner, job)
        wait_for(lambda: mid_flight(job) and not watch.poll(), timeout=90)
        kill_group(first)
    killed = time.monotonic()

    with celery_worker(WORKER_ENV):  # a new worker
        watch.until_finished(timeout=ENDS_WITHIN)
    took = time.monotonic() - killed

    assert took < ENDS_WITHIN
    assert_complete(watch, big_room)
    assert job.attempts == 2 or job.status == Status.FAILED
    assert not ExportJob.objects.filter(status__in=[Status.QUEUED, Status.RUNNING]).exists()


def test_cancel_of_an_orphaned_export_ends_and_the_same_request_starts_afresh(owner, big_room):
    form = {
        "level": "room",
        "experiment": big_room.experiment.public_id,
        "room": big_room.room.public_id,
        "fmt": "csv",
        "anonymization": "remove",
        "data_types": ["events"],
    }
    with celery_worker(WORKER_ENV) as first:
        assert owner.post(reverse("exports:new"), form).status_code == 302
        job = ExportJob.objects.get()
        wait_for(lambda: mid_flight(job), timeout=90)
        kill_group(first)

    # No worker is left: the process that had the job on this machine is gone, so the
    # cancel ends the job at once (elsewhere, a look for lost exports would once the
    # heartbeat is stale).
    cancel = owner.post(reverse("exports:cancel", args=[job.public_id]), HTTP_HX_REQUEST="true")
    assert cancel.status_code == 286 and "Cancelled" in cancel.content.decode()
    job.refresh_from_db()
    assert job.status == Status.CANCELLED and not job.file
    assert owner.get(reverse("exports:download", args=[job.public_id])).status_code == 404
    temp = Path(settings.EXPORT_TEMP_DIR) / job.public_id.hex
    assert not any(p.is_file() for p in temp.rglob("*"))

    again = owner.post(reverse("exports:new"), form)  # the same request, at once
    assert again.status_code == 302
    fresh = ExportJob.objects.exclude(pk=job.pk).get()
    assert again["Location"] == reverse("exports:detail", args=[fresh.public_id])
    watch = DownloadWatch(owner, fresh)
    assert not watch.poll()  # queued: no file yet (the job may end before a worker is up)
    with celery_worker(WORKER_ENV, flush=False):  # the fresh job waits in the queue
        watch.until_finished()
    assert fresh.status == Status.SUCCEEDED, fresh.error
    assert_complete(watch, big_room)


# Redis restarted mid-export: a server of this test's own, on a port of its own.


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    def __init__(self, directory: Path) -> None:
        self.port = _free_port()
        self.directory = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        wait_for(lambda: self._answers(client), timeout=20)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    @staticmethod
    def _answers(client: redis.Redis) -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False


@pytest.fixture
def own_redis(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is needed for the Redis restart test")
    server = RedisServer(tmp_path)
    server.start()
    try:
        with _broker(server.url):
            yield server
    finally:
        server.stop()


@contextmanager
def _broker(url: str):
    """This process sends its tasks to ``url`` meanwhile."""
    from kombu import pools

    from hyperstudy_dash.celery import app

    def forget() -> None:
        pools.reset()
        app._pool = None
        app.amqp._producer_pool = None

    before = app.conf.broker_url
    app.conf.broker_url = url
    forget()
    try:
        yield
    finally:
        app.conf.broker_url = before
        forget()


def test_redis_restarted_mid_export(owner, big_room, own_redis):
    env = {**WORKER_ENV, "REDIS_URL": own_redis.url}
    with celery_worker(env):
        job = start(big_room, fmt="csv", anonymization="remove")
        watch = DownloadWatch(owner, job)
        wait_for(lambda: mid_flight(job) and not watch.poll(), timeout=90)
        own_redis.stop()
        time.sleep(1)
        own_redis.start()
        restarted = time.monotonic()
        watch.until_finished()
        took = time.monotonic() - restarted
        assert took < ENDS_WITHIN
        assert_complete(watch, big_room)

        # The worker is connected again: the next export runs through it.
        after = start(big_room, fmt="json", data_types=["chat"])
        wait_for(lambda: ExportJob.objects.get(pk=after.pk).is_finished, timeout=60)
        after.refresh_from_db()
        assert after.status == Status.SUCCEEDED, after.error


# The worker's database connection terminated mid-COPY.


def _grow_room(room, doublings: int) -> None:
    """Double the room's events ``doublings`` times inside PostgreSQL (fast, unlike Python
    inserts): a COPY long enough to be caught in the middle."""
    from data_browser.models import Event

    table = Event._meta.db_table
    columns = [f.column for f in Event._meta.concrete_fields if not f.primary_key]
    for n in range(doublings):
        picked = [f"record_id || '_d{n}'" if c == "record_id" else c for c in columns]
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) "
                f"SELECT {', '.join(picked)} FROM {table} WHERE room_id = %s",
                [room.pk],
            )


def _terminate_copy() -> int:
    """``pg_terminate_backend`` of every backend of this database running a COPY now."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND state = 'active' AND query ILIKE 'COPY%%'"
        )
        return len(cursor.fetchall())


def test_database_connection_dropped_mid_copy(owner, big_room):
    _grow_room(big_room.room, 2)  # 4 x 40,000 events
    with celery_worker(WORKER_ENV):
        job = start(big_room, fmt="csv", anonymization="keep")  # identifiers kept: COPY
        watch = DownloadWatch(owner, job)

        def copy_terminated() -> int:
            job.refresh_from_db()
            assert not job.is_finished, "the export ended before its COPY was caught"
            return _terminate_copy()

        wait_for(copy_terminated, timeout=90, interval=0.005)
        dropped = time.monotonic()
        watch.until_finished()
        took = time.monotonic() - dropped

    assert took < ENDS_WITHIN
    assert_complete(watch, big_room)
    if job.status == Status.SUCCEEDED:
        assert job.attempts == 2  # started again, not failed
