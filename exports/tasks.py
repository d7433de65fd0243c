"""The Celery tasks that build exports. Each takes a row id and re-reads the row.

They are idempotent, because ``acks_late`` + ``reject_on_worker_lost`` deliver a
task again when its worker dies: a finished job is left alone, a job found
"running" by a live worker (fresh heartbeat) is left to it, a job whose worker is
gone is restarted from scratch (up to ``EXPORT_MAX_ATTEMPTS``), and a file only
becomes downloadable once it is complete in storage and the row says so.
Cancel is the row's ``cancel_requested`` flag, read between chunks.

Lost workers: while a task works on a job, a thread stamps the row's
``heartbeat_at`` every ``EXPORT_HEARTBEAT_SECONDS``. Every worker runs
``recover_lost_exports`` as often (``exports.watch``); a running job without a heartbeat for
``EXPORT_LOST_AFTER`` seconds is queued again (or failed after
``EXPORT_MAX_ATTEMPTS``, or cancelled when that was asked), so the broker's
visibility timeout is not the only rescue. ``attempts`` is the claim's token: a
task whose job was claimed again meanwhile changes nothing more.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import DatabaseError, InterfaceError, OperationalError, connections, transaction
from django.db.models import F
from django.utils import timezone

from data_browser import access
from data_browser import datatypes as T
from data_browser.models import ExportRight, Room

from . import services, writers
from .models import ACTIVE, SELF, ExportJob, ExportPiece, Status, export_upload_to

try:
    import psycopg
except ImportError:  # SQLite-only installs
    psycopg = None

log = logging.getLogger(__name__)
TASK_OPTIONS = {"acks_late": True, "reject_on_worker_lost": True, "ignore_result": True}
FLUSH_SECONDS = 0.5
# A lost connection to the database: the job starts again instead of failing.
INTERRUPTIONS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
if psycopg is not None:
    INTERRUPTIONS += (psycopg.OperationalError, psycopg.InterfaceError)
RECHECK_SECONDS = 1.0  # how often a running job asks again whether it may still read


class _Progress:
    """Counts rows and, at most twice a second, writes them and the status message to the row
    and reads the cancel flag (raising ``Cancelled``); every ``RECHECK_SECONDS`` it also asks
    whether the job may still read (raising ``AccessWithdrawn``)."""

    def __init__(self, job: ExportJob, piece: ExportPiece | None = None) -> None:
        self.job_id = job.pk
        self.attempt = job.attempts
        self.piece_id = piece.pk if piece else None
        self.pending = 0
        self.message: str | None = None
        self.last = time.monotonic()
        self.checked = self.last

    def tick(self, rows: int) -> None:
        self.pending += rows
        if time.monotonic() - self.last >= FLUSH_SECONDS:
            self.flush()

    def say(self, message: str) -> None:
        self.message = message[:200]
        if time.monotonic() - self.last >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        self.last = time.monotonic()
        changes: dict = {}
        if self.message is not None:
            changes["message"], self.message = self.message, None
        if self.pending:
            rows, self.pending = self.pending, 0
            changes["rows_done"] = F("rows_done") + rows
            if self.piece_id:
                ExportPiece.objects.filter(pk=self.piece_id).update(rows_done=F("rows_done") + rows)
        if changes:
            ExportJob.objects.filter(pk=self.job_id).update(**changes)
        state = ExportJob.objects.filter(pk=self.job_id).values_list(
            "status", "cancel_requested", "attempts"
        )
        row = state.first()
        if row is None or row[1] or row[0] != Status.RUNNING or row[2] != self.attempt:
            raise writers.Cancelled()
        if self.last - self.checked >= RECHECK_SECONDS:
            self.checked = self.last
            _require_access(self.job_id)


def _plan(job: ExportJob, progress: _Progress) -> writers.Plan:
    return writers.Plan(
        job=job,
        types=[T.BY_KEY[k] for k in job.data_types],
        policy=services.job_policy(job),
        tick=progress.tick,
        say=progress.say,
    )


class AccessWithdrawn(Exception):
    """The job's user or key may no longer read what it exports: it ends "denied"."""


def withdrawn(job_id: int) -> str | None:
    """Why the job may no longer read its data (None: it may), asked of its user's rights
    and the key it was started with *now*, re-read from the database: the job's own row may
    be older than a revocation."""
    job = (
        ExportJob.objects.select_related("user", "api_key", "experiment", "data_request")
        .filter(pk=job_id)
        .first()
    )
    if job is None:
        return None  # deleted: the cancel check ends it
    if not job.user.is_active:
        return "the account that started it is deactivated"
    if job.started_with_key and (job.api_key is None or not job.api_key.is_active):
        return "the API key that started it was revoked, has expired or was deleted"
    reader = access.for_job(job)
    if job.anonymization == SELF:
        request = job.data_request
        if request is None or request.status != request.Status.APPROVED:
            return "the data request is no longer approved"
        return None
    if not reader.experiments().filter(pk=job.experiment_id).exists():
        return "the account is no longer a member of the experiment"
    if not reader.can_export(job.experiment, job.anonymization):
        right = dict(ExportRight.choices)[reader.export_right(job.experiment)]
        return f"the export right on the experiment is now “{right}”"
    if not all(reader.allows(T.BY_KEY[k].scope) for k in job.data_types if k in T.BY_KEY):
        return "the API key no longer has the scopes of its data types"
    return None


def _require_access(job_id: int) -> None:
    reason = withdrawn(job_id)
    if reason is not None:
        raise AccessWithdrawn(
            f"Access withdrawn: {reason}. The export was stopped; no file was kept."
        )


def _claim(job_id: int) -> ExportJob | None:
    """Move a job to "running", or return None when there is nothing (more) to do."""
    with transaction.atomic():
        job = (
            ExportJob.objects.select_for_update(of=("self",))
            .select_related("user", "experiment", "room", "participant")
            .filter(pk=job_id)
            .first()
        )
        if job is None or job.is_finished:
            return None
        if job.cancel_requested:
            _finish(job, Status.CANCELLED, "Cancelled")
            return None
        if job.status == Status.RUNNING:
            if not worker_lost(job):
                return None  # a live worker has it: a duplicate delivery must not run it twice
            if job.attempts >= settings.EXPORT_MAX_ATTEMPTS:
                _finish(
                    job,
                    Status.FAILED,
                    "Failed",
                    error=f"The export was interrupted {job.attempts} times and was given up.",
                )
                return None
            log.warning("export %s: restarting after an interruption", job.public_id)
        _drop_pieces(job)
        job.status = Status.RUNNING
        job.attempts += 1
        job.started_at = timezone.now()
        job.rows_done = 0
        job.message = "Starting…"
        job.heartbeat_at = job.started_at
        job.worker = _this_process()
        job.save(
            update_fields=[
                "status",
                "attempts",
                "started_at",
                "rows_done",
                "message",
                "heartbeat_at",
                "worker",
            ]
        )
    return job


def _finish(job: ExportJob, status: str, message: str, *, error: str = "") -> None:
    job.status = status
    job.message = message
    job.error = error
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "message", "error", "finished_at"])
    if status == Status.FAILED:
        services.audit_job("export.failed", job, job.user, error=error)
    elif status == Status.DENIED:
        services.audit_job("export.denied", job, job.user, error=error)


def _end(
    job_id: int, status: str, message: str, *, error: str = "", attempt: int | None = None
) -> None:
    """End a running job (once), whoever notices first; its parts are removed. With
    ``attempt``, only while the job is still that claim (not queued or claimed again since)."""
    with transaction.atomic():
        job = ExportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.is_finished:
            return
        if attempt is not None and (job.attempts != attempt or job.status != Status.RUNNING):
            return
        _finish(job, status, message, error=error)
        _drop_pieces(job)


def _drop_pieces(job: ExportJob) -> None:
    for name in job.pieces.exclude(file="").values_list("file", flat=True):
        default_storage.delete(name)
    job.pieces.all().delete()


def _guarded(
    job: ExportJob, work: Callable[[], None], temp: str, piece: ExportPiece | None = None
) -> None:
    """Run ``work`` (sending heartbeats) and turn every way it can end into the job's state;
    temp files go. Only the claim that runs it can end the job."""
    attempt = job.attempts
    try:
        _require_access(job.pk)
        with _Heartbeat(job, piece):
            work()
    except AccessWithdrawn as exc:
        _end(job.pk, Status.DENIED, "Access withdrawn", error=str(exc), attempt=attempt)
    except writers.Cancelled:
        _end(job.pk, Status.CANCELLED, "Cancelled", attempt=attempt)
    except SoftTimeLimitExceeded:
        _end(
            job.pk,
            Status.FAILED,
            "Failed",
            error="The export took longer than the time limit and was stopped. "
            "Try a smaller scope (a room instead of the experiment) or fewer data types.",
            attempt=attempt,
        )
    except INTERRUPTIONS:
        log.warning("export %s: lost its database connection", job.public_id, exc_info=True)
        _restart_after_interruption(job.pk, attempt)
    except Exception as exc:
        log.exception("export %s failed", job.public_id)
        _end(
            job.pk,
            Status.FAILED,
            "Failed",
            error=f"Something went wrong while writing the export ({type(exc).__name__}). "
            "Please try again; if it keeps failing, contact support with the export id.",
            attempt=attempt,
        )
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _temp_dir(job: ExportJob, name: str) -> str:
    path = os.path.join(settings.EXPORT_TEMP_DIR, job.public_id.hex, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, exist_ok=True)
    return path


@shared_task(**TASK_OPTIONS)
def run_export(job_id: int) -> None:
    job = _claim(job_id)
    if job is None:
        return
    temp = _temp_dir(job, "main")
    progress = _Progress(job)
    plan = _plan(job, progress)

    def work() -> None:
        with writers.reader() as conn:
            plan.conn = conn
            if writers.splits_into_pieces(job):
                _split(job, plan)
                return
            progress.say("Counting rows…")
            job.rows_expected = writers.count_rows(plan)
            ExportJob.objects.filter(pk=job.pk).update(rows_expected=job.rows_expected)
            path = os.path.join(temp, "export")
            ext = writers.build(plan, path)
            progress.flush()
        _store(job, path, ext, plan.digest)

    _guarded(job, work, temp)


def _split(job: ExportJob, plan: writers.Plan) -> None:
    """Cut an experiment-level ZIP into pieces of rooms and queue one task per piece."""
    groups = writers.room_groups(plan, plan.rooms())
    plan.say(f"Fetching data ({len(groups)} parts)…")
    with transaction.atomic():
        pieces = [
            ExportPiece.objects.create(job=job, index=i, room_ids=room_ids, rows_done=0)
            for i, (room_ids, _rows) in enumerate(groups)
        ]
        expected = sum(rows for _ids, rows in groups)
        # The pieces' tasks carry the job from here (their heartbeats keep it alive).
        ExportJob.objects.filter(pk=job.pk).update(rows_expected=expected, worker="")
        ids = [p.pk for p in pieces]
        transaction.on_commit(lambda: [build_piece.delay(pk) for pk in ids])


def _claim_piece(piece_id: int) -> ExportPiece | None:
    with transaction.atomic():
        piece = ExportPiece.objects.select_for_update().filter(pk=piece_id).first()
        if piece is None or piece.status == Status.SUCCEEDED:
            return None
        if piece.status == Status.RUNNING and not _stale(piece.heartbeat_at):
            return None  # a live worker builds it: a duplicate delivery must not run it twice
        job = (
            ExportJob.objects.select_related("user", "experiment", "room", "participant")
            .filter(pk=piece.job_id)
            .first()
        )
        if job is None or job.status != Status.RUNNING:
            return None
        if job.cancel_requested:
            transaction.on_commit(lambda: _end(job.pk, Status.CANCELLED, "Cancelled"))
            return None
        if piece.rows_done:
            ExportJob.objects.filter(pk=job.pk).update(rows_done=F("rows_done") - piece.rows_done)
        piece.status = Status.RUNNING
        piece.rows_done = 0
        piece.heartbeat_at = timezone.now()
        piece.save(update_fields=["status", "rows_done", "heartbeat_at"])
        piece.job = job
    return piece


@shared_task(**TASK_OPTIONS)
def build_piece(piece_id: int) -> None:
    piece = _claim_piece(piece_id)
    if piece is None:
        return
    job = piece.job
    temp = _temp_dir(job, f"piece-{piece.index}")
    progress = _Progress(job, piece)
    plan = _plan(job, progress)

    def work() -> None:
        rooms = list(Room.objects.filter(pk__in=piece.room_ids).order_by("started_at", "pk"))
        path = os.path.join(temp, "part.zip")
        with writers.reader() as conn:
            plan.conn = conn
            with writers.new_zip(path) as zf:
                entries = writers.write_rooms_into_zip(plan, zf, rooms)
            progress.flush()
        name = f"exports/{job.public_id.hex}/parts/{piece.index}.zip"
        default_storage.delete(name)
        with open(path, "rb") as fh:
            stored = default_storage.save(name, File(fh))
        with transaction.atomic():
            current = ExportJob.objects.select_for_update().filter(pk=job.pk).first()
            if (
                current is None
                or current.status != Status.RUNNING
                or current.attempts != job.attempts
                or not ExportPiece.objects.filter(pk=piece.pk).exists()
            ):
                default_storage.delete(stored)
                raise writers.Cancelled()
            piece.status = Status.SUCCEEDED
            piece.file = stored
            piece.files = [e.as_dict() for e in entries]
            piece.save(update_fields=["status", "file", "files"])
            if not current.pieces.exclude(status=Status.SUCCEEDED).exists():
                transaction.on_commit(lambda: assemble_export.delay(job.pk))

    _guarded(job, work, temp, piece)


@shared_task(**TASK_OPTIONS)
def assemble_export(job_id: int) -> None:
    """Merge the pieces' ZIPs (compressed data copied as is) and add metadata.json."""
    job = _claim_assembly(job_id)
    if job is None:
        return
    temp = _temp_dir(job, "assemble")
    progress = _Progress(job)
    plan = _plan(job, progress)

    def work() -> None:
        progress.say("Creating ZIP…")
        path = os.path.join(temp, "export.zip")
        entries = []
        with writers.new_zip(path) as zf:
            for piece in job.pieces.order_by("index"):
                writers.merge_zip(zf, _local_copy(piece.file, temp))
                entries.extend(writers.FileEntry(**e) for e in piece.files)
                progress.flush()
            writers.finish_zip(plan, zf, entries, plan.rooms())
        _store(job, path, "zip")
        _drop_pieces(job)

    _guarded(job, work, temp)


def _local_copy(name: str, temp: str) -> str:
    try:
        return default_storage.path(name)
    except NotImplementedError:
        local = os.path.join(temp, os.path.basename(name))
        with default_storage.open(name, "rb") as src, open(local, "wb") as dst:
            shutil.copyfileobj(src, dst, 1024 * 1024)
        return local


class _LocalFile(File):
    """A finished temp file: local storage moves it into place instead of copying it."""

    def __init__(self, fh, path: str) -> None:
        super().__init__(fh)
        self._path = path

    def temporary_file_path(self) -> str:
        return self._path


def _store(job: ExportJob, path: str, ext: str, digest: tuple[str, int] | None = None) -> None:
    """Move the finished file into storage, then (and only then) mark the job succeeded."""
    sha256, size = digest or writers.file_digest(path)
    _require_access(job.pk)  # the last read is done: asked once more before the file counts
    name = services.download_name(job, ext)
    with open(path, "rb") as fh:
        stored = default_storage.save(export_upload_to(job, name), _LocalFile(fh, path))
    with transaction.atomic():
        current = ExportJob.objects.select_for_update().filter(pk=job.pk).first()
        if (
            current is None
            or current.status != Status.RUNNING
            or current.cancel_requested
            or current.attempts != job.attempts
        ):
            default_storage.delete(stored)
            raise writers.Cancelled()
        current.file.name = stored
        current.file_name = name
        current.size = size
        current.sha256 = sha256
        current.status = Status.SUCCEEDED
        current.progress = 100
        current.message = "Ready"
        current.finished_at = timezone.now()
        current.expires_at = services.expiry_from_now()
        # What was written is the figure now; the expected rows were read from the counts
        # kept with the records, which a write around ingest can leave behind.
        current.rows_expected = current.rows_done
        current.save(
            update_fields=[
                "file",
                "file_name",
                "size",
                "sha256",
                "rows_expected",
                "status",
                "progress",
                "message",
                "finished_at",
                "expires_at",
                "rows_done",
            ]
        )
        services.audit_job("export.finished", current, current.user)


def _claim_assembly(job_id: int) -> ExportJob | None:
    """The job, once every piece is built, for the one process that merges them."""
    with transaction.atomic():
        job = (
            ExportJob.objects.select_for_update(of=("self",))
            .select_related("user", "experiment", "room", "participant")
            .filter(pk=job_id, status=Status.RUNNING)
            .first()
        )
        if job is None or job.pieces.exclude(status=Status.SUCCEEDED).exists():
            return None
        if job.worker and not _process_gone(job.worker) and not _stale(job.heartbeat_at):
            return None  # being merged by a live worker already
        job.worker = _this_process()
        job.heartbeat_at = timezone.now()
        job.save(update_fields=["worker", "heartbeat_at"])
    return job


@shared_task(**TASK_OPTIONS)
def purge_expired_exports() -> dict[str, int]:
    """Celery beat: delete expired files, and fail jobs that can no longer be running."""
    now = timezone.now()
    expired = 0
    for job in ExportJob.objects.filter(status=Status.SUCCEEDED, expires_at__lte=now).exclude(
        file=""
    ):
        default_storage.delete(job.file.name)
        job.file = ""
        job.message = "Expired"
        job.save(update_fields=["file", "message"])
        expired += 1
    stale_before = now - timedelta(seconds=settings.EXPORT_TIME_LIMIT * 2 + 600)
    stale = 0
    for job in ExportJob.objects.filter(status__in=ACTIVE, created_at__lt=stale_before):
        _end(
            job.pk,
            Status.FAILED,
            "Failed",
            error="The export did not finish in time (a worker may have stopped). Please retry.",
        )
        shutil.rmtree(os.path.join(settings.EXPORT_TEMP_DIR, job.public_id.hex), ignore_errors=True)
        stale += 1
    return {"expired": expired, "stale": stale}


# Lost workers: heartbeats, their absence, and what happens to the job then.


class _Heartbeat:
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

    def __enter__(self) -> _Heartbeat:
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


def _this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


def _stale(heartbeat_at) -> bool:
    limit = timezone.now() - timedelta(seconds=settings.EXPORT_LOST_AFTER)
    return heartbeat_at is None or heartbeat_at < limit


def _process_gone(worker: str) -> bool:
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
    if job.worker and _process_gone(job.worker):
        return True
    if not _stale(job.heartbeat_at or job.started_at):
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
    _drop_pieces(job)
    shutil.rmtree(os.path.join(settings.EXPORT_TEMP_DIR, job.public_id.hex), ignore_errors=True)
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
            _finish(job, Status.CANCELLED, "Cancelled")
            _drop_pieces(job)
            return "cancelled"
        return _queue_again(job, "The worker running this export stopped")


def _restart_after_interruption(job_id: int, attempt: int) -> None:
    """A task lost its database connection: start the job again (it is still this claim's)."""
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close_if_unusable_or_obsolete()
    with transaction.atomic():
        job = ExportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status != Status.RUNNING or job.attempts != attempt:
            return
        if job.cancel_requested:
            _finish(job, Status.CANCELLED, "Cancelled")
            _drop_pieces(job)
            return
        _queue_again(job, "The connection to the database was lost")


def _queue_again(job: ExportJob, what_happened: str) -> str:
    """Under the row's lock: the job goes back to the queue from scratch, or fails once it
    has used ``EXPORT_MAX_ATTEMPTS``. Returns "restarted" or "failed"."""
    _drop_pieces(job)
    if job.attempts >= settings.EXPORT_MAX_ATTEMPTS:
        _finish(
            job,
            Status.FAILED,
            "Failed",
            error=f"{what_happened} and the export was interrupted {job.attempts} times, "
            "so it was given up. Please try again; if it keeps failing, contact support "
            "with the export id.",
        )
        shutil.rmtree(os.path.join(settings.EXPORT_TEMP_DIR, job.public_id.hex), ignore_errors=True)
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
