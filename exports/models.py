"""Export jobs: the row is the single source of truth for an export's state and file.

The Celery tasks in ``exports.tasks`` take a job's id, re-read the row and
write their progress back to it; the views, the API and the progress modal
only ever read it. An experiment-level ZIP is cut into ``ExportPiece`` rows,
one per group of rooms, that workers build in parallel.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from data_browser.access import Anonymization
from data_browser.models import DataRequest, Experiment, Participant, Room


class Level(models.TextChoices):
    TYPE = "type", "One data type of a participant"
    PARTICIPANT = "participant", "All data of a participant"
    ROOM = "room", "Room"
    EXPERIMENT = "experiment", "Experiment"


class Format(models.TextChoices):
    CSV = "csv", "CSV"
    JSON = "json", "JSON"
    ZIP = "zip", "ZIP"


class Status(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Ready"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    # The right to make it was withdrawn while it waited or ran (key revoked or expired,
    # membership removed, export right lowered): stopped, nothing kept.
    DENIED = "denied", "Denied"


ACTIVE = (Status.QUEUED, Status.RUNNING)
# The jobs that can still finish: active and not asked to stop. The fingerprint rule (one
# such job per user and request) counts only these, so a cancelled job that has not ended
# yet never blocks the same request made again.
CAN_FINISH = Q(status__in=ACTIVE, cancel_requested=False)
FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED, Status.DENIED)

# Anonymization modes stored on a job: the three a user chooses, plus the one a participant's
# approved data request gets (their own identifiers kept, everyone else's removed).
SELF = "self"
MODES = [*Anonymization.choices, (SELF, "Own data, others anonymized")]


def export_upload_to(job: ExportJob, filename: str) -> str:
    return f"exports/{job.public_id.hex}/{filename}"


class ExportJob(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="export_jobs"
    )
    level = models.CharField(max_length=16, choices=Level.choices)
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="+")
    room = models.ForeignKey(
        Room, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    participant = models.ForeignKey(
        Participant, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    data_request = models.ForeignKey(
        DataRequest, null=True, blank=True, on_delete=models.SET_NULL, related_name="exports"
    )
    api_key = models.ForeignKey(
        "data_browser.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept apart from ``api_key``: a job started with a key that has since been deleted reads
    # nothing, rather than falling back to its owner's rights.
    started_with_key = models.BooleanField(default=False)
    data_types = models.JSONField(default=list, help_text="data type keys, registry order")
    fmt = models.CharField("format", max_length=8, choices=Format.choices)
    anonymization = models.CharField(max_length=16, choices=MODES)
    include_media = models.BooleanField(default=False)
    # A contextual export (a Data Viewer tab's Download): the tab's filters by API parameter
    # name, canonical (``exports.contextual``); {} exports the whole scope.
    filters = models.JSONField(default=dict, blank=True)
    csv_bom = models.BooleanField(
        "UTF-8 with BOM", default=False, help_text="CSV files start with a byte-order mark"
    )
    # Same user + same fingerprint while it can still finish = the same export (reused).
    fingerprint = models.CharField(max_length=64)
    site_url = models.CharField(max_length=300, blank=True, help_text="base of links in files")

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    cancel_requested = models.BooleanField(default=False)
    progress = models.PositiveSmallIntegerField(default=0, help_text="percent")
    message = models.CharField(max_length=200, blank=True)
    rows_done = models.BigIntegerField(default=0)
    rows_expected = models.BigIntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Written by the task working on the job every EXPORT_HEARTBEAT_SECONDS; a running job
    # whose heartbeat is older than EXPORT_LOST_AFTER has lost its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid of the claim")
    error = models.TextField(blank=True)

    file = models.FileField(upload_to=export_upload_to, blank=True, max_length=300)
    file_name = models.CharField(max_length=200, blank=True, help_text="download name")
    size = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at"]),
            models.Index(fields=["status", "expires_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "fingerprint"],
                condition=Q(status__in=["queued", "running"], cancel_requested=False),
                name="exports_one_active_job_per_fingerprint",
            )
        ]

    def __str__(self) -> str:
        return f"export {self.public_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    @property
    def is_downloadable(self) -> bool:
        return (
            self.status == Status.SUCCEEDED
            and bool(self.file)
            and (self.expires_at is None or self.expires_at > timezone.now())
        )

    @property
    def percent(self) -> int:
        if self.status == Status.SUCCEEDED:
            return 100
        if self.rows_expected:
            return min(99, int(100 * self.rows_done / self.rows_expected))
        return self.progress


class ExportPiece(models.Model):
    """A group of rooms of an experiment-level ZIP, built by its own task and merged at the end."""

    job = models.ForeignKey(ExportJob, on_delete=models.CASCADE, related_name="pieces")
    index = models.PositiveIntegerField()
    room_ids = models.JSONField(default=list)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    rows_done = models.BigIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    file = models.CharField(max_length=300, blank=True, help_text="storage name of the part")
    files = models.JSONField(default=list, help_text="file entries for metadata.json")

    class Meta:
        ordering = ["index"]
        constraints = [
            models.UniqueConstraint(fields=["job", "index"], name="exports_unique_piece")
        ]

    def __str__(self) -> str:
        return f"piece {self.index} of {self.job_id}"
