"""What every export task shares: Celery's delivery options, and how a job's row ends."""

from __future__ import annotations

import os
import shutil

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from .. import services
from ..models import ExportJob, Status

TASK_OPTIONS = {"acks_late": True, "reject_on_worker_lost": True, "ignore_result": True}


def finish(job: ExportJob, status: str, message: str, *, error: str = "") -> None:
    job.status = status
    job.message = message
    job.error = error
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "message", "error", "finished_at"])
    if status == Status.FAILED:
        services.audit_job("export.failed", job, job.user, error=error)
    elif status == Status.DENIED:
        services.audit_job("export.denied", job, job.user, error=error)


def end(
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
        finish(job, status, message, error=error)
        drop_pieces(job)


def drop_pieces(job: ExportJob) -> None:
    for name in job.pieces.exclude(file="").values_list("file", flat=True):
        default_storage.delete(name)
    job.pieces.all().delete()


def temp_root(job: ExportJob) -> str:
    """The folder of a job's temporary files, one subfolder per task that works on it."""
    return os.path.join(settings.EXPORT_TEMP_DIR, job.public_id.hex)


def drop_temp(job: ExportJob) -> None:
    shutil.rmtree(temp_root(job), ignore_errors=True)
