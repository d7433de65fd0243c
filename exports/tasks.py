"""The Celery tasks that build exports. Each takes a row id and re-reads the row.

They are idempotent, because ``acks_late`` + ``reject_on_worker_lost`` deliver a
task again when its worker dies: a finished job is left alone, a job found
"running" is restarted from scratch (up to ``EXPORT_MAX_ATTEMPTS``), and a file
only becomes downloadable once it is complete in storage and the row says so.
Cancel is the row's ``cancel_requested`` flag, read between chunks.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from datetime import timedelta

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from data_browser import access
from data_browser import datatypes as T
from data_browser.access import Anonymization
from data_browser.models import Room

from . import anonymize, services, writers
from .models import ACTIVE, SELF, ExportJob, ExportPiece, Status, export_upload_to

log = logging.getLogger(__name__)
TASK_OPTIONS = {"acks_late": True, "reject_on_worker_lost": True, "ignore_result": True}
FLUSH_SECONDS = 0.5


class _Progress:
    """Counts rows and, at most twice a second, writes them and the status message to the row
    and reads the cancel flag (raising ``Cancelled``)."""

    def __init__(self, job: ExportJob, piece: ExportPiece | None = None) -> None:
        self.job_id = job.pk
        self.piece_id = piece.pk if piece else None
        self.pending = 0
        self.message: str | None = None
        self.last = time.monotonic()

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
        state = ExportJob.objects.filter(pk=self.job_id).values_list("status", "cancel_requested")
        row = state.first()
        if row is None or row[1] or row[0] != Status.RUNNING:
            raise writers.Cancelled()


def _plan(job: ExportJob, progress: _Progress) -> writers.Plan:
    own = job.participant.public_id if job.anonymization == SELF and job.participant_id else None
    transform = (
        anonymize.keep
        if job.anonymization == Anonymization.AGGREGATE
        else anonymize.transform_for(job.anonymization, job.experiment_id, own)
    )
    return writers.Plan(
        job=job,
        types=[T.BY_KEY[k] for k in job.data_types],
        transform=transform,
        tick=progress.tick,
        say=progress.say,
    )


def _still_allowed(job: ExportJob) -> bool:
    """The user's rights now, not when they asked."""
    if not job.user.is_active:
        return False
    if job.anonymization == SELF:
        request = job.data_request
        return request is not None and request.status == request.Status.APPROVED
    if not access.experiments(job.user).filter(pk=job.experiment_id).exists():
        return False
    return access.can_export(job.user, job.experiment, job.anonymization)


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
        job.save(update_fields=["status", "attempts", "started_at", "rows_done", "message"])
    return job


def _finish(job: ExportJob, status: str, message: str, *, error: str = "") -> None:
    job.status = status
    job.message = message
    job.error = error
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "message", "error", "finished_at"])
    if status == Status.FAILED:
        services.audit_job("export.failed", job, job.user, error=error)


def _end(job_id: int, status: str, message: str, *, error: str = "") -> None:
    """End a running job (once), whoever notices first; its parts are removed."""
    with transaction.atomic():
        job = ExportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.is_finished:
            return
        _finish(job, status, message, error=error)
        _drop_pieces(job)


def _drop_pieces(job: ExportJob) -> None:
    for name in job.pieces.exclude(file="").values_list("file", flat=True):
        default_storage.delete(name)
    job.pieces.all().delete()


def _guarded(job: ExportJob, work: Callable[[], None], temp: str) -> None:
    """Run ``work`` and turn every way it can end into the job's state; temp files go."""
    try:
        work()
    except writers.Cancelled:
        _end(job.pk, Status.CANCELLED, "Cancelled")
    except SoftTimeLimitExceeded:
        _end(
            job.pk,
            Status.FAILED,
            "Failed",
            error="The export took longer than the time limit and was stopped. "
            "Try a smaller scope (a room instead of the experiment) or fewer data types.",
        )
    except Exception as exc:
        log.exception("export %s failed", job.public_id)
        _end(
            job.pk,
            Status.FAILED,
            "Failed",
            error=f"Something went wrong while writing the export ({type(exc).__name__}). "
            "Please try again; if it keeps failing, contact support with the export id.",
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
    if not _still_allowed(job):
        _end(
            job.pk, Status.FAILED, "Failed", error="You are no longer allowed to make this export."
        )
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
        ExportJob.objects.filter(pk=job.pk).update(rows_expected=expected)
        ids = [p.pk for p in pieces]
        transaction.on_commit(lambda: [build_piece.delay(pk) for pk in ids])


def _claim_piece(piece_id: int) -> ExportPiece | None:
    with transaction.atomic():
        piece = ExportPiece.objects.select_for_update().filter(pk=piece_id).first()
        if piece is None or piece.status == Status.SUCCEEDED:
            return None
        job = (
            ExportJob.objects.select_related("user", "experiment", "room", "participant")
            .filter(pk=piece.job_id)
            .first()
        )
        if job is None or job.status != Status.RUNNING or job.cancel_requested:
            return None
        if piece.rows_done:
            ExportJob.objects.filter(pk=job.pk).update(rows_done=F("rows_done") - piece.rows_done)
        piece.status = Status.RUNNING
        piece.rows_done = 0
        piece.save(update_fields=["status", "rows_done"])
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
            if current is None or current.status != Status.RUNNING:
                default_storage.delete(stored)
                raise writers.Cancelled()
            piece.status = Status.SUCCEEDED
            piece.file = stored
            piece.files = [e.as_dict() for e in entries]
            piece.save(update_fields=["status", "file", "files"])
            if not current.pieces.exclude(status=Status.SUCCEEDED).exists():
                transaction.on_commit(lambda: assemble_export.delay(job.pk))

    _guarded(job, work, temp)


@shared_task(**TASK_OPTIONS)
def assemble_export(job_id: int) -> None:
    """Merge the pieces' ZIPs (compressed data copied as is) and add metadata.json."""
    job = (
        ExportJob.objects.select_related("user", "experiment", "room", "participant")
        .filter(pk=job_id, status=Status.RUNNING)
        .first()
    )
    if job is None or job.pieces.exclude(status=Status.SUCCEEDED).exists():
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
    name = services.download_name(job, ext)
    with open(path, "rb") as fh:
        stored = default_storage.save(export_upload_to(job, name), _LocalFile(fh, path))
    with transaction.atomic():
        current = ExportJob.objects.select_for_update().filter(pk=job.pk).first()
        if current is None or current.status != Status.RUNNING or current.cancel_requested:
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
        if current.rows_expected is not None:
            current.rows_done = current.rows_expected
        current.save(
            update_fields=[
                "file",
                "file_name",
                "size",
                "sha256",
                "status",
                "progress",
                "message",
                "finished_at",
                "expires_at",
                "rows_done",
            ]
        )
        services.audit_job("export.finished", current, current.user)


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
