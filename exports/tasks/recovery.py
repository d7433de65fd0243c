"""Lost workers: heartbeats, their absence, and what happens to the job then.

While a task works on a job, a thread stamps the row's ``heartbeat_at`` every
``EXPORT_HEARTBEAT_SECONDS``. Every worker runs ``recover_lost_exports`` as often
(``exports.watch``); a running job without a heartbeat for ``EXPORT_LOST_AFTER`` seconds is
queued again (or failed after ``EXPORT_MAX_ATTEMPTS``, or cancelled when that was asked), so
the broker's visibility timeout is not the only rescue. ``attempts`` is the claim's token: a
task whose job was claimed again meanwhile changes nothing more.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.utils import timezone

from .. import services
from ..models import ExportJob, ExportPiece, Status
from .common import drop_pieces, drop_temp, finish

log = logging.getLogger(__name__)


class Heartbeat:
    """While a task works on a job, a thread of its own stamps ``heartbeat_at`` on the job
    (and the piece) every ``EXPORT_HEARTBEAT_SECONDS``, also through one long query; a worker
    that dies takes the thread with it, which is how its job is noticed as lost. Not used
    inside a caller's transaction (eager tests), whose rows no other connection sees."""

    def __init__(self, job: ExportJob, piece: ExportPiece | None = None) -> None:
        self.job_id = job.pk
        self.attempt = job.attempts
        self.piece_id = piece.pk if piece else None
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        if not connections["default"].in_atomic_block:
            self.thread = threading.Thread(
                target=self._run, name=f"export-heartbeat-{self.job_id}", daemon=True
            )
            self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=30)

    def _run(self) -> None:
        try:
            while not self.stop.wait(settings.EXPORT_HEARTBEAT_SECONDS):
                self._beat()
        finally:
            connections.close_all()  # this thread's own connection

    def _beat(self) -> None:
        now = timezone.now()
        try:
            ExportJob.objects.filter(
                pk=self.job_id, status=Status.RUNNING, attempts=self.attempt
            ).update(heartbeat_at=now)
            if self.piece_id:
                ExportPiece.objects.filter(pk=self.piece_id).update(heartbeat_at=now)
        except DatabaseError:
            log.warning("export job %s: heartbeat not written", self.job_id, exc_info=True)
            connections["default"].close()  # connect again at the next beat


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


def stale(heartbeat_at) -> bool:
    limit = timezone.now() - timedelta(seconds=settings.EXPORT_LOST_AFTER)
    return heartbeat_at is None or heartbeat_at < limit


def process_gone(worker: str) -> bool:
    """The process that claimed a job ran on this machine and exists no more (a killed pool
    process whose task the broker delivers again at once)."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _zombie(int(pid))


def _zombie(pid: int) -> bool:
    """Killed but not yet reaped by its parent (Linux; elsewhere: not known, so no)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def worker_lost(job: ExportJob) -> bool:
    """A running job nobody works on any more: no heartbeat for ``EXPORT_LOST_AFTER`` seconds
    and no piece waiting in the queue, or its claiming process is gone."""
    if job.status != Status.RUNNING:
        return False
    if job.worker and process_gone(job.worker):
        return True
    if not stale(job.heartbeat_at or job.started_at):
        return False
    return not job.pieces.filter(status=Status.QUEUED).exists()


def cancel_lost(job: ExportJob) -> bool:
    """For ``services.cancel_export``, under the row's lock: a job whose worker is gone ends
    "cancelled" now (nobody else would read its flag); its parts and temp files go."""
    if not worker_lost(job):
        return False
    job.status = Status.CANCELLED
    job.message = "Cancelled"
    job.finished_at = timezone.now()
    drop_pieces(job)
    drop_temp(job)
    return True


def recover_lost_exports() -> dict[str, int]:
    """Every worker, every ``EXPORT_HEARTBEAT_SECONDS`` (``exports.watch``): running jobs
    whose worker stopped sending heartbeats are queued again, failed after
    ``EXPORT_MAX_ATTEMPTS``, or cancelled when their owner asked for that meanwhile."""
    limit = timezone.now() - timedelta(seconds=settings.EXPORT_LOST_AFTER)
    quiet = ExportJob.objects.filter(status=Status.RUNNING, heartbeat_at__lt=limit) | (
        ExportJob.objects.filter(
            status=Status.RUNNING, heartbeat_at__isnull=True, started_at__lt=limit
        )
    )
    outcomes = {"restarted": 0, "failed": 0, "cancelled": 0}
    for job_id in quiet.values_list("pk", flat=True):
        outcome = _recover(job_id)
        if outcome:
            outcomes[outcome] += 1
    return outcomes


def _recover(job_id: int) -> str | None:
    with transaction.atomic():
        job = ExportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or not worker_lost(job):
            return None
        log.warning("export %s: its worker stopped sending heartbeats", job.public_id)
        if job.cancel_requested:
            finish(job, Status.CANCELLED, "Cancelled")
            drop_pieces(job)
            return "cancelled"
        return _queue_again(job, "The worker running this export stopped")


def restart_after_interruption(job_id: int, attempt: int) -> None:
    """A task lost its database connection: start the job again (it is still this claim's)."""
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close_if_unusable_or_obsolete()
    with transaction.atomic():
        job = ExportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status != Status.RUNNING or job.attempts != attempt:
            return
        if job.cancel_requested:
            finish(job, Status.CANCELLED, "Cancelled")
            drop_pieces(job)
            return
        _queue_again(job, "The connection to the database was lost")


def _queue_again(job: ExportJob, what_happened: str) -> str:
    """Under the row's lock: the job goes back to the queue from scratch, or fails once it
    has used ``EXPORT_MAX_ATTEMPTS``. Returns "restarted" or "failed"."""
    drop_pieces(job)
    if job.attempts >= settings.EXPORT_MAX_ATTEMPTS:
        finish(
            job,
            Status.FAILED,
            "Failed",
            error=f"{what_happened} and the export was interrupted {job.attempts} times, "
            "so it was given up. Please try again; if it keeps failing, contact support "
            "with the export id.",
        )
        drop_temp(job)
        return "failed"
    job.status = Status.QUEUED
    job.worker = ""
    job.rows_done = 0
    job.message = (
        f"{what_happened}; starting again "
        f"(attempt {job.attempts + 1} of {settings.EXPORT_MAX_ATTEMPTS})…"
    )
    job.save(update_fields=["status", "worker", "rows_done", "message"])
    transaction.on_commit(lambda: services.send_job(job))
    return "restarted"
