"""A worker that stops, a task delivered twice, a cancel that meets a dead worker, and the
same export asked for again right after a cancel — the job's state, not a 500.

The tasks run in this process (Celery eager); ``test_worker_faults.py`` does the same with
real worker processes that are killed.
"""

from __future__ import annotations

import socket
import subprocess
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from data_browser import datatypes as T
from data_browser.models import AuditEntry
from exports import services, tasks, writers
from exports.models import ExportJob, Status

from .conftest import content, parse_csv

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def start(world, role="owner", **kw):
    kw.setdefault("level", "room")
    kw.setdefault("room_id", world.room.public_id)
    kw.setdefault("data_types", ["events"])
    kw.setdefault("fmt", "csv")
    return services.start_export(world.user(role), experiment_id=world.experiment.public_id, **kw)


def as_running(job, *, seconds_since_heartbeat: float, worker: str = "elsewhere:1", **fields):
    """The job as a worker left it: claimed once, its last heartbeat that long ago."""
    beat = timezone.now() - timedelta(seconds=seconds_since_heartbeat)
    ExportJob.objects.filter(pk=job.pk).update(
        status=Status.RUNNING,
        attempts=1,
        started_at=beat,
        heartbeat_at=beat,
        worker=worker,
        rows_done=77,
        **fields,
    )
    job.refresh_from_db()
    return job


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def post_same_export(client):
    return client.post(
        reverse("exports:new"),
        {
            "level": "room",
            "experiment": "exp_research_001",
            "room": client.room_id,
            "fmt": "csv",
            "anonymization": "keep",
            "data_types": ["events"],
        },
    )


@pytest.fixture
def owner_client(client, world):
    client.force_login(world.user("owner"))
    client.room_id = world.room.public_id
    return client


def test_cancel_then_the_same_request_starts_a_fresh_job(owner_client, world):
    assert post_same_export(owner_client).status_code == 302
    first = ExportJob.objects.get()
    as_running(first, seconds_since_heartbeat=1)  # a live worker has it
    response = owner_client.post(reverse("exports:cancel", args=[first.public_id]), **HTMX)
    assert "Cancelling" in response.content.decode()

    response = post_same_export(owner_client)

    assert response.status_code == 302
    fresh = ExportJob.objects.exclude(pk=first.pk).get()
    assert response["Location"] == reverse("exports:detail", args=[fresh.public_id])
    assert fresh.status == Status.QUEUED and not fresh.cancel_requested
    first.refresh_from_db()
    assert first.status == Status.RUNNING and first.cancel_requested  # still stopping
    # Asked once more, the fresh job is the one reused.
    post_same_export(owner_client)
    assert ExportJob.objects.count() == 2


def test_cancel_then_the_same_request_over_the_api_starts_a_fresh_job(client, world):
    from data_browser.api.keys import create_key

    _key, raw = create_key(world.user("owner"), name="cancel test", scopes=T.ALL_SCOPES)
    headers = {"X-API-Key": raw}
    body = {
        "level": "room",
        "experimentId": world.experiment.public_id,
        "roomId": world.room.public_id,
        "dataTypes": ["events"],
        "format": "csv",
    }
    first = client.post("/api/v3/exports", body, content_type="application/json", headers=headers)
    assert first.status_code == 202
    job = ExportJob.objects.get(public_id=first.json()["id"])
    as_running(job, seconds_since_heartbeat=1)
    cancelled = client.delete(f"/api/v3/exports/{job.public_id}", headers=headers)
    assert cancelled.status_code == 200

    again = client.post("/api/v3/exports", body, content_type="application/json", headers=headers)

    assert again.status_code == 202, again.content
    assert again.json()["id"] != str(job.public_id)
    assert again.json()["state"] == "queued"


def test_cancel_then_the_same_request_through_the_service_never_collides(world):
    for _ in range(3):
        job = start(world)
        as_running(job, seconds_since_heartbeat=1)
        services.cancel_export(job, world.user("owner"))
    assert ExportJob.objects.filter(cancel_requested=True).count() == 3
    assert start(world).status == Status.QUEUED


def test_cancelling_a_job_whose_worker_is_gone_finishes_at_once(owner_client, world, settings):
    job = as_running(start(world), seconds_since_heartbeat=settings.EXPORT_LOST_AFTER + 5)

    response = owner_client.post(reverse("exports:cancel", args=[job.public_id]), **HTMX)

    assert response.status_code == 286  # polling stops: the job has ended
    assert "Cancelled" in response.content.decode()
    job.refresh_from_db()
    assert job.status == Status.CANCELLED and job.finished_at and not job.file
    download = owner_client.get(reverse("exports:download", args=[job.public_id]))
    assert download.status_code == 404
    assert AuditEntry.objects.filter(action="export.cancelled").exists()


def test_cancelling_a_job_whose_process_died_on_this_machine_finishes_at_once(world):
    job = start(world)
    as_running(job, seconds_since_heartbeat=1, worker=f"{socket.gethostname()}:{dead_pid()}")
    job = services.cancel_export(job, world.user("owner"))
    assert job.status == Status.CANCELLED


def test_a_lost_job_is_started_again_and_completes(
    world, eager, settings, django_capture_on_commit_callbacks
):
    job = as_running(start(world), seconds_since_heartbeat=settings.EXPORT_LOST_AFTER + 5)

    with django_capture_on_commit_callbacks(execute=True):
        outcome = tasks.recover_lost_exports()

    assert outcome == {"restarted": 1, "failed": 0, "cancelled": 0}
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED, job.error
    assert job.attempts == 2
    rows = parse_csv(content(job))
    assert len(rows) - 1 == T.EVENTS.model.objects.filter(room=world.room).count()


def test_a_lost_job_waits_in_the_queue_with_a_plain_message(world, settings):
    job = as_running(start(world), seconds_since_heartbeat=settings.EXPORT_LOST_AFTER + 5)
    tasks.recover_lost_exports()
    job.refresh_from_db()
    assert job.status == Status.QUEUED and job.rows_done == 0
    assert job.message == (
        f"The worker running this export stopped; starting again "
        f"(attempt 2 of {settings.EXPORT_MAX_ATTEMPTS})…"
    )


def test_a_lost_job_fails_after_the_last_attempt(world, settings):
    job = as_running(start(world), seconds_since_heartbeat=settings.EXPORT_LOST_AFTER + 5)
    ExportJob.objects.filter(pk=job.pk).update(attempts=settings.EXPORT_MAX_ATTEMPTS)

    assert tasks.recover_lost_exports()["failed"] == 1

    job.refresh_from_db()
    assert job.status == Status.FAILED and not job.file
    assert job.error.startswith("The worker running this export stopped")
    assert "given up" in job.error
    assert AuditEntry.objects.filter(action="export.failed").exists()


def test_a_lost_job_that_was_asked_to_stop_ends_cancelled(world, settings):
    job = as_running(
        start(world), seconds_since_heartbeat=settings.EXPORT_LOST_AFTER + 5, cancel_requested=True
    )
    assert tasks.recover_lost_exports()["cancelled"] == 1
    job.refresh_from_db()
    assert job.status == Status.CANCELLED and not job.file


def test_a_job_with_a_fresh_heartbeat_is_left_to_its_worker(world, eager):
    job = as_running(start(world), seconds_since_heartbeat=1)

    assert tasks.recover_lost_exports() == {"restarted": 0, "failed": 0, "cancelled": 0}
    tasks.run_export(job.pk)  # the broker delivers the task a second time

    job.refresh_from_db()
    assert (job.status, job.attempts, job.rows_done) == (Status.RUNNING, 1, 77)


def test_a_redelivery_after_the_claiming_process_died_restarts_at_once(world, eager):
    job = start(world)
    as_running(job, seconds_since_heartbeat=1, worker=f"{socket.gethostname()}:{dead_pid()}")
    tasks.run_export(job.pk)
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED and job.attempts == 2


def test_a_task_whose_job_was_claimed_again_writes_no_file_and_ends_nothing(
    world, eager, monkeypatch
):
    job = start(world)
    build = writers.build

    def claimed_meanwhile(plan, path):
        # Another worker took the job over (attempt 2) while this one was writing.
        ExportJob.objects.filter(pk=job.pk).update(attempts=2, heartbeat_at=timezone.now())
        return build(plan, path)

    monkeypatch.setattr(writers, "build", claimed_meanwhile)
    tasks.run_export(job.pk)

    job.refresh_from_db()
    assert (job.status, job.attempts) == (Status.RUNNING, 2)
    assert not job.file and not job.error


def test_a_task_believed_lost_whose_job_was_queued_again_leaves_it_queued(
    world, eager, monkeypatch
):
    job = start(world)
    build = writers.build

    def queued_meanwhile(plan, path):
        # A worker's look found no heartbeat for too long and queued the job again.
        ExportJob.objects.filter(pk=job.pk).update(status=Status.QUEUED)
        return build(plan, path)

    monkeypatch.setattr(writers, "build", queued_meanwhile)
    tasks.run_export(job.pk)

    job.refresh_from_db()
    assert (job.status, job.attempts) == (Status.QUEUED, 1)
    assert not job.file and not job.finished_at


def test_a_lost_database_connection_starts_the_job_again(
    world, eager, monkeypatch, django_capture_on_commit_callbacks
):
    from django.db import OperationalError

    job = start(world)
    build = writers.build
    calls = []

    def drops_once(plan, path):
        calls.append(path)
        if len(calls) == 1:
            raise OperationalError("terminating connection due to administrator command")
        return build(plan, path)

    monkeypatch.setattr(writers, "build", drops_once)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.run_export(job.pk)

    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED, job.error
    assert job.attempts == 2 and len(calls) == 2
    rows = parse_csv(content(job))
    assert len(rows) - 1 == T.EVENTS.model.objects.filter(room=world.room).count()
