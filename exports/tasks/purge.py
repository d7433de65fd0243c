"""Celery beat's clean-up: expired files go, jobs that can no longer be running fail."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.core.files.storage import default_storage
from django.utils import timezone

from ..models import ACTIVE, ExportJob, Status
from .common import TASK_OPTIONS, drop_temp, end


@shared_task(name="exports.tasks.purge_expired_exports", **TASK_OPTIONS)
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
        end(
            job.pk,
            Status.FAILED,
            "Failed",
            error="The export did not finish in time (a worker may have stopped). Please retry.",
        )
        drop_temp(job)
        stale += 1
    return {"expired": expired, "stale": stale}
