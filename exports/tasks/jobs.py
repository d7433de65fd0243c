"""Running a job: claim the row, write the file (in pieces of rooms for an experiment-level
ZIP, merged at the end), move it into storage, and turn every way the work can end into the
job's state."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F
from django.utils import timezone

from data_browser import datatypes as T
from data_browser.models import Room

from .. import services, writers
from ..models import ExportJob, ExportPiece, Status, export_upload_to
from .common import TASK_OPTIONS, drop_pieces, end, finish, temp_root
from .recovery import (
    Heartbeat,
    process_gone,
    restart_after_interruption,
    stale,
    this_process,
    worker_lost,
)
from .rights import AccessWithdrawn, require_access

try:
    import psycopg
except ImportError:  # SQLite-only installs
    psycopg = None

log = logging.getLogger(__name__)
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
            require_access(self.job_id)


def _plan(job: ExportJob, progress: _Progress) -> writers.Plan:
    return writers.Plan(
        job=job,
        types=[T.BY_KEY[k] for k in job.data_types],
        policy=services.job_policy(job),
        tick=progress.tick,
        say=progress.say,
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
            finish(job, Status.CANCELLED, "Cancelled")
            return None
        if job.status == Status.RUNNING:
            if not worker_lost(job):
                return None  # a live worker has it: a duplicate delivery must not run it twice
            if job.attempts >= settings.EXPORT_MAX_ATTEMPTS:
                finish(
                    job,
                    Status.FAILED,
                    "Failed",
                    error=f"The export was interrupted {job.attempts} times and was given up.",
                )
                return None
            log.warning("export %s: restarting after an interruption", job.public_id)
        drop_pieces(job)
        job.status = Status.RUNNING
        job.attempts += 1
        job.started_at = timezone.now()
        job.rows_done = 0
        job.message = "Starting…"
        job.heartbeat_at = job.started_at
        job.worker = this_process()
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


def _guarded(
    job: ExportJob, work: Callable[[], None], temp: str, piece: ExportPiece | None = None
) -> None:
    """Run ``work`` (sending heartbeats) and turn every way it can end into the job's state;
    temp files go. Only the claim that runs it can end the job."""
    attempt = job.attempts
    try:
        require_access(job.pk)
        with Heartbeat(job, piece):
            work()
    except AccessWithdrawn as exc:
        end(job.pk, Status.DENIED, "Access withdrawn", error=str(exc), attempt=attempt)
    except writers.Cancelled:
        end(job.pk, Status.CANCELLED, "Cancelled", attempt=attempt)
    except SoftTimeLimitExceeded:
        end(
            job.pk,
            Status.FAILED,
            "Failed",
            error="The export took longer than the time limit and was stopped. "
            "Try a smaller scope (a room instead of the experiment) or fewer data types.",
            attempt=attempt,
        )
    except INTERRUPTIONS:
        log.warning("export %s: lost its database connection", job.public_id, exc_info=True)
        restart_after_interruption(job.pk, attempt)
    except Exception as exc:
        log.exception("export %s failed", job.public_id)
        end(
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
    path = os.path.join(temp_root(job), name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, exist_ok=True)
    return path


@shared_task(name="exports.tasks.run_export", **TASK_OPTIONS)
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
        if piece.status == Status.RUNNING and not stale(piece.heartbeat_at):
            return None  # a live worker builds it: a duplicate delivery must not run it twice
        job = (
            ExportJob.objects.select_related("user", "experiment", "room", "participant")
            .filter(pk=piece.job_id)
            .first()
        )
        if job is None or job.status != Status.RUNNING:
            return None
        if job.cancel_requested:
            transaction.on_commit(lambda: end(job.pk, Status.CANCELLED, "Cancelled"))
            return None
        if piece.rows_done:
            ExportJob.objects.filter(pk=job.pk).update(rows_done=F("rows_done") - piece.rows_done)
        piece.status = Status.RUNNING
        piece.rows_done = 0
        piece.heartbeat_at = timezone.now()
        piece.save(update_fields=["status", "rows_done", "heartbeat_at"])
        piece.job = job
    return piece


@shared_task(name="exports.tasks.build_piece", **TASK_OPTIONS)
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


@shared_task(name="exports.tasks.assemble_export", **TASK_OPTIONS)
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
        drop_pieces(job)

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
    require_access(job.pk)  # the last read is done: asked once more before the file counts
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
        if job.worker and not process_gone(job.worker) and not stale(job.heartbeat_at):
            return None  # being merged by a live worker already
        job.worker = this_process()
        job.heartbeat_at = timezone.now()
        job.save(update_fields=["worker", "heartbeat_at"])
    return job
