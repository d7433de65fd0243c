"""The domain: labs, experiments, rooms, participants, who may see them, and the seven records.

Identifying fields of a person (display name, email, IP address) live on
``Participant`` and nowhere else, so removing identifiers is a matter of not
joining them.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce
from django.utils import timezone


def public_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(6)}"


class Lab(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)

    def __str__(self) -> str:
        return self.name


class Profile(models.Model):
    """A user's place in a lab, and the participant identity of a participant account."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    lab = models.ForeignKey(Lab, null=True, blank=True, on_delete=models.SET_NULL)
    is_lab_admin = models.BooleanField(default=False)
    participant = models.OneToOneField(
        "Participant", null=True, blank=True, on_delete=models.SET_NULL, related_name="account"
    )
    # What the pages remember for their reader: the time zone times are shown in, and the
    # record-table columns chosen per data type ({"events": ["timestamp", "eventType"], ...}).
    time_zone = models.CharField(max_length=64, default="UTC")
    table_columns = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"profile of {self.user}"


class Experiment(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        COMPLETED = "completed", "Completed"
        ARCHIVED = "archived", "Archived"

    public_id = models.CharField(max_length=64, unique=True)
    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="experiments")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now)
    retention_until = models.DateField(null=True, blank=True)
    allow_participant_requests = models.BooleanField(default=False)
    has_video_chat = models.BooleanField(default=False)
    is_multi_participant = models.BooleanField(default=True)
    # Status before archiving, so that restoring puts the experiment back as it was.
    status_before_archive = models.CharField(max_length=16, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class Room(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        COMPLETED = "completed", "Completed"

    public_id = models.CharField(max_length=64, unique=True)
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="rooms")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    started_at = models.DateTimeField(help_text="experimentStartedAt: onset 0 of the room")
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["experiment", "started_at"])]

    def __str__(self) -> str:
        return self.public_id

    @property
    def duration(self):
        if self.ended_at is None:
            return None
        return self.ended_at - self.started_at


class Participant(models.Model):
    public_id = models.CharField(max_length=128, unique=True)
    display_name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    def __str__(self) -> str:
        return self.public_id


class RoomParticipant(models.Model):
    class Status(models.TextChoices):
        COMPLETED = "completed", "Completed"
        ACTIVE = "active", "Active"
        DISCONNECTED = "disconnected", "Disconnected"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="room_participants")
    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="room_participants"
    )
    role = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    joined_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "participant"], name="unique_room_participant")
        ]
        ordering = ["role", "participant__public_id"]

    def __str__(self) -> str:
        return f"{self.participant} in {self.room}"


class ExportRight(models.TextChoices):
    """Ordered from least to most: each right includes the ones before it."""

    NONE = "none", "No export (view only)"
    AGGREGATE = "aggregate", "Aggregate statistics only"
    DEIDENTIFIED = "deidentified", "De-identified"
    FULL = "full", "Full (identifiers kept)"

    @classmethod
    def rank(cls, value: str) -> int:
        return list(cls.values).index(value)


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        COLLABORATOR = "collaborator", "Collaborator"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.COLLABORATOR)
    export_right = models.CharField(
        max_length=16, choices=ExportRight.choices, default=ExportRight.NONE
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "experiment"], name="unique_membership")
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.role} of {self.experiment}"

    @property
    def effective_export_right(self) -> str:
        return ExportRight.FULL if self.role == self.Role.OWNER else self.export_right


# The seven record tables. Each carries the three scope keys and the fields of the API document;
# data_browser.datatypes describes how API names map onto these columns.


class Record(models.Model):
    record_id = models.CharField(max_length=128, unique=True)
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="+")
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+")
    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="+", null=True, blank=True
    )
    timestamp = models.DateTimeField()
    onset = models.BigIntegerField(help_text="milliseconds from the room's start; may be negative")

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.record_id


def _scope_indexes(table: str) -> list[models.Index]:
    return [
        models.Index(fields=["experiment", "timestamp", "id"], name=f"{table}_exp_ts"),
        models.Index(fields=["experiment", "onset", "id"], name=f"{table}_exp_onset"),
        models.Index(fields=["room", "onset", "id"], name=f"{table}_room_onset"),
        models.Index(fields=["room", "timestamp", "id"], name=f"{table}_room_ts"),
        models.Index(fields=["participant", "room", "onset", "id"], name=f"{table}_part_onset"),
    ]


class Event(Record):
    event_type = models.CharField(max_length=100)
    category = models.CharField(max_length=32, blank=True)
    component_type = models.CharField(max_length=100, blank=True)
    component_id = models.CharField(max_length=128, blank=True)
    content = models.TextField(blank=True)
    state_name = models.CharField(max_length=128, blank=True)
    participant_role = models.CharField(max_length=64, blank=True)
    duration = models.BigIntegerField(null=True, blank=True)
    response = models.JSONField(null=True, blank=True)

    class Meta:
        indexes = _scope_indexes("event")


class Recording(Record):
    """``timestamp`` is the recording's startTime and ``onset`` its videoOffset."""

    end_time = models.DateTimeField(null=True, blank=True)
    duration = models.BigIntegerField(null=True, blank=True)
    file = models.FileField(upload_to="recordings/", blank=True, max_length=300, db_default="")
    file_size = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=32, blank=True)
    format = models.CharField(max_length=16, blank=True)
    resolution = models.CharField(max_length=32, blank=True)

    class Meta:
        indexes = _scope_indexes("recording")


class ChatMessage(Record):
    """``participant`` is the sender."""

    content = models.TextField()
    recipient_ids = models.JSONField(default=list, blank=True)
    message_type = models.CharField(max_length=32, default="text")

    class Meta:
        indexes = _scope_indexes("chat")


class ContinuousRating(Record):
    component_id = models.CharField(max_length=128)
    value = models.FloatField()
    normalized_value = models.FloatField(null=True, blank=True)
    raw_value = models.FloatField(null=True, blank=True)
    scale_min = models.FloatField(null=True, blank=True)
    scale_max = models.FloatField(null=True, blank=True)

    class Meta:
        indexes = _scope_indexes("crating")


class SparseRating(Record):
    component_id = models.CharField(max_length=128)
    value = models.FloatField()
    response_time = models.BigIntegerField(null=True, blank=True)
    scale_min = models.FloatField(null=True, blank=True)
    scale_max = models.FloatField(null=True, blank=True)
    labels = models.JSONField(null=True, blank=True)

    class Meta:
        indexes = _scope_indexes("srating")


class SyncMetric(Record):
    time_drift = models.FloatField(null=True, blank=True)
    playback_rate = models.FloatField(null=True, blank=True)
    sync_quality = models.FloatField(null=True, blank=True)
    latency = models.FloatField(null=True, blank=True)
    buffer_health = models.FloatField(null=True, blank=True)

    class Meta:
        indexes = _scope_indexes("sync")


class ComponentSnapshot(Record):
    """A component as it was shown: its config and the variables at display time."""

    component_id = models.CharField(max_length=128)
    component_type = models.CharField(max_length=100, blank=True)
    state_id = models.CharField(max_length=128, blank=True)
    config = models.JSONField(null=True, blank=True)
    variable_snapshot = models.JSONField(null=True, blank=True)

    class Meta:
        indexes = _scope_indexes("component")


class RecordCount(models.Model):
    """How many records of one type a room holds for one participant (or for none), kept in
    step with the records in the same transaction (``data_browser.counts``), so that an
    unfiltered total is a sum of a few rows instead of a count of millions."""

    data_type = models.CharField(max_length=32)
    # Indexed by the constraint and the indexes below, each led by one of the three.
    experiment = models.ForeignKey(
        Experiment, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="+", db_index=False)
    participant = models.ForeignKey(
        Participant,
        on_delete=models.CASCADE,
        related_name="+",
        null=True,
        blank=True,
        db_index=False,
    )
    records = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            # The key of the increments' upsert; one row for the records without a participant.
            models.UniqueConstraint(
                models.F("room"),
                models.F("data_type"),
                Coalesce(models.F("participant"), models.Value(0)),
                name="recordcount_key",
            )
        ]
        indexes = [
            models.Index(fields=["experiment", "data_type"], name="recordcount_experiment"),
            models.Index(fields=["participant", "data_type"], name="recordcount_participant"),
        ]

    def __str__(self) -> str:
        return f"{self.records} {self.data_type} in room {self.room_id}"


# Keys, requests and the audit trail.


class ApiKey(models.Model):
    """Stored as a lookup prefix and a keyed hash; the key itself is shown once and never kept."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, max_length=1000)
    prefix = models.CharField(max_length=32, unique=True)
    last_four = models.CharField(max_length=4)
    key_hash = models.CharField(max_length=128)
    scopes = models.JSONField(default=list)
    experiments = models.ManyToManyField(Experiment, blank=True, related_name="api_keys")
    # Set for good once the key is limited to experiments (``access.mark_key_restricted``): a
    # key whose experiments were all deleted since then reads nothing, not everything.
    restricted = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # Written with last_used_at (at most once a minute); the live count is in the cache.
    request_count = models.PositiveBigIntegerField(default=0)
    last_ip = models.GenericIPAddressField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…{self.last_four})"

    @property
    def masked(self) -> str:
        """How pages show the key (the API-keys guide's form): ``hst_live_a3f2b4...******``."""
        return f"{self.prefix[:15]}...******"

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()


class DataRequest(models.Model):
    """A participant's request for a copy of their data, or for its deletion."""

    class Kind(models.TextChoices):
        ACCESS = "access", "Request my data"
        DELETION = "deletion", "Request deletion"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        DECLINED = "declined", "Declined"

    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="data_requests"
    )
    experiment = models.ForeignKey(
        Experiment, on_delete=models.CASCADE, related_name="data_requests"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.status})"


class AuditEntry(models.Model):
    """Append-only; each entry carries the hash of the one before it (see data_browser.audit)."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    lab = models.ForeignKey(Lab, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    experiment = models.ForeignKey(
        Experiment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    experiment_label = models.CharField(max_length=64, blank=True)
    scope = models.CharField(max_length=255, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    rows = models.BigIntegerField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action}"
