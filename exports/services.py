"""Starting, following, cancelling and deleting exports: the functions every caller uses.

The dashboard views, the REST API and the governance pages all go through
these functions, so the rules live in one place:

- ``start_export(user, level=..., experiment_id=..., ...) -> ExportJob`` validates the
  request (``ExportInvalid``: a 400 with a message), checks the user's export right
  through ``data_browser.access`` (``ExportDenied``: a 403, and no job row is written),
  reuses an identical queued or running job of the same user, and sends the Celery task
  once the row is committed. If the broker cannot be reached the job is marked failed at
  once and ``ExportUnavailable`` is raised (a 503 with a message).
- ``cancel_export(job, user)`` sets the cancel flag; the task stops within a chunk. A job
  whose worker has stopped sending heartbeats is cancelled at once.
- ``delete_export(job, user)`` removes the file and the row.
- ``job_as_dict(job, request)`` is the job as the API and the progress modal show it.
- A contextual export (a Data Viewer tab's Download, or the API with ``filters``) passes the
  tab's filters: ``start_export(..., data_types=[one type], filters={"eventType": ...})``;
  they are validated by the tab's FilterSet (``ExportInvalid`` otherwise), part of the job's
  fingerprint, applied by every writer and recorded in the file (``exports.contextual``).
  ``csv_bom=True`` starts every CSV file with the UTF-8 byte-order mark (for Excel).
- ``delete_exports_containing(experiment=, room=, participant=)`` removes the exports that
  hold data about to be deleted (call it *before* deleting, while memberships of rooms
  are still known).
- A participant's approved "Request my data" becomes an export with
  ``start_export(user, level="experiment", experiment_id=..., for_participant_request=req)``:
  the participant's own records in that experiment, their own id kept and everyone
  else's identifiers removed. ``user`` is the participant's account (who downloads it) or
  an owner of the experiment acting for them.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import orjson
from django.conf import settings
from django.core import signing
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import Http404, HttpRequest
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from data_browser import access, audit
from data_browser import datatypes as T
from data_browser.access import Anonymization
from data_browser.models import (
    ApiKey,
    DataRequest,
    Experiment,
    ExportRight,
    Participant,
    Room,
    RoomParticipant,
)

from . import anonymize, contextual
from .models import CAN_FINISH, MODES, SELF, ExportJob, Format, Level, Status

if TYPE_CHECKING:
    from data_browser.access import User

log = logging.getLogger(__name__)
_SIGN_SALT = "hyperstudy.export-download"
BULK_LEVELS = (Level.ROOM, Level.EXPERIMENT)
MODE_LABELS = dict(MODES)


class ExportError(Exception):
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ExportInvalid(ExportError):
    """The request itself is wrong (unknown format, missing scope…): HTTP 400."""


class ExportDenied(ExportError):
    """The user may not export this scope in this mode: HTTP 403, and no job is created."""

    status = 403


class ExportUnavailable(ExportError):
    """The task queue cannot be reached: HTTP 503. The job is marked failed."""

    status = 503


class ExportBusy(ExportError):
    """An identical job changed state while this request looked at it twice: HTTP 503,
    try again in a moment. No job is written."""

    status = 503


def allowed_modes(reader: access.Access, experiment: Experiment, level: str) -> list[str]:
    """Anonymization modes the reader may choose for an export at ``level`` of ``experiment``.

    Aggregates need several participants, so they are not offered for one participant.
    """
    modes = reader.allowed_anonymizations(experiment)
    if level in (Level.TYPE, Level.PARTICIPANT):
        modes = [m for m in modes if m != Anonymization.AGGREGATE]
    return modes


def reader_for(user: User, key: ApiKey | None, request: HttpRequest | None) -> access.Access:
    """The request's access object when there is a request of this user, else a new one."""
    if request is not None and request.user is user:
        reader = access.for_request(request)
        if reader.key is key:
            return reader
    return access.for_user(user, key=key)


def _types(level: str, data_types: list[str] | None) -> list[T.DataType]:
    if not data_types:
        if level == Level.TYPE:
            raise ExportInvalid("Choose the data type to export.")
        return list(T.DATA_TYPES)
    chosen = []
    for name in data_types:
        try:
            chosen.append(T.get(name))
        except KeyError:
            known = ", ".join(dt.key for dt in T.DATA_TYPES)
            raise ExportInvalid(f"Unknown data type {name!r}; choose from {known}.") from None
    if level == Level.TYPE and len({dt.key for dt in chosen}) != 1:
        raise ExportInvalid("A single-type export takes exactly one data type.")
    keys = {dt.key for dt in chosen}
    return [dt for dt in T.DATA_TYPES if dt.key in keys]


def _fingerprint(**parts: Any) -> str:
    text = "|".join(f"{k}={parts[k]}" for k in sorted(parts))
    return hashlib.sha256(text.encode()).hexdigest()


def start_export(
    user: User,
    *,
    level: str,
    experiment_id: str,
    room_id: str | None = None,
    participant_id: str | None = None,
    data_types: list[str] | None = None,
    fmt: str = Format.ZIP,
    anonymization: str = Anonymization.KEEP,
    include_media: bool = False,
    filters: Mapping[str, Any] | None = None,
    csv_bom: bool = False,
    key: ApiKey | None = None,
    request: HttpRequest | None = None,
    for_participant_request: DataRequest | None = None,
) -> ExportJob:
    """Create (or reuse) an export job and queue it. See the module docstring for the errors.

    ``experiment_id``/``room_id`` are public ids; ``participant_id`` is a public id or the
    participant's code. ``data_types`` are keys or API names (default: all; exactly one at
    level "type"). ``filters`` (API parameter names) need exactly one data type. Objects the
    user cannot see raise ``Http404``.
    """
    if fmt not in Format.values:
        raise ExportInvalid(f"Unknown format {fmt!r}; choose csv, json or zip.")
    if for_participant_request is not None:
        return _start_own_data_export(user, for_participant_request, fmt, request)
    if level not in Level.values:
        raise ExportInvalid(
            f"Unknown level {level!r}; choose type, participant, room or experiment."
        )
    if anonymization not in Anonymization.values:
        raise ExportInvalid(
            f"Unknown anonymization {anonymization!r}; choose keep, remove or aggregate."
        )
    if not experiment_id:
        raise ExportInvalid("Say which experiment to export.")
    reader = reader_for(user, key, request)
    experiment = reader.experiment(experiment_id)
    room = participant = None
    if level != Level.EXPERIMENT:
        if not room_id:
            raise ExportInvalid(f"A {level}-level export needs a room.")
        room = reader.room(room_id, experiment=experiment)
    if level in (Level.TYPE, Level.PARTICIPANT):
        if not participant_id:
            raise ExportInvalid(f"A {level}-level export needs a participant.")
        participant = reader.participant(participant_id, room=room).participant
    types = _types(level, data_types)
    if key is not None:
        types = [dt for dt in types if reader.allows(dt.scope)]
        if not types:
            raise ExportDenied("This API key may not read any of the requested data types.")
    if anonymization not in reader.allowed_anonymizations(experiment):
        rights = dict(ExportRight.choices)
        needed = access.REQUIRED_RIGHT[anonymization]
        raise ExportDenied(
            f"Your export right on this experiment does not allow "
            f"“{MODE_LABELS[anonymization].lower()}” exports: they need the export right "
            f"“{rights[needed]}” ({needed}) or higher; yours is "
            f"“{rights[reader.export_right(experiment)]}” ({reader.export_right(experiment)})."
        )
    if anonymization == Anonymization.AGGREGATE and level not in BULK_LEVELS:
        raise ExportInvalid(
            "Aggregate exports summarise several participants: export a room or the experiment."
        )
    if include_media and (anonymization != Anonymization.KEEP or fmt != Format.ZIP):
        raise ExportInvalid(
            "Recording media files can only be included in a ZIP with identifiers kept."
        )
    if include_media and not any(dt.has_media for dt in types):
        include_media = False
    filters = clean_filters(types, filters)
    return _create_and_send(
        user,
        request=request,
        key=key,
        level=level,
        experiment=experiment,
        room=room,
        participant=participant,
        types=types,
        fmt=fmt,
        anonymization=anonymization,
        include_media=include_media,
        filters=filters,
        csv_bom=bool(csv_bom),
    )


def clean_filters(types: list[T.DataType], filters: Mapping[str, Any] | None) -> dict[str, str]:
    """A tab's filters in canonical form ({} for none); ``ExportInvalid`` when they are not
    filters of the one data type exported, or a value is refused by the tab's FilterSet."""
    if not filters:
        return {}
    if not isinstance(filters, Mapping):
        raise ExportInvalid("Filters are an object of filter names and values.")
    if len(types) != 1:
        raise ExportInvalid(
            "Filters belong to one data type (a Data Viewer tab): choose exactly one data type."
        )
    try:
        return contextual.canonical(types[0], filters)
    except contextual.FilterError as exc:
        raise ExportInvalid(str(exc)) from None


def _start_own_data_export(
    user: User, data_request: DataRequest, fmt: str, request: HttpRequest | None
) -> ExportJob:
    if data_request.kind != DataRequest.Kind.ACCESS:
        raise ExportInvalid("Only a request for a copy of one's data becomes an export.")
    if data_request.status != DataRequest.Status.APPROVED:
        raise ExportDenied("This data request has not been approved.")
    reader = reader_for(user, None, request)
    own = reader.own_participant
    is_self = own is not None and own.pk == data_request.participant_id
    if not is_self and not reader.is_owner(data_request.experiment):
        raise ExportDenied("Only the participant or an owner of the experiment may do this.")
    return _create_and_send(
        user,
        request=request,
        key=None,
        level=Level.EXPERIMENT,
        experiment=data_request.experiment,
        room=None,
        participant=data_request.participant,
        types=list(T.DATA_TYPES),
        fmt=fmt,
        anonymization=SELF,
        include_media=False,
        data_request=data_request,
    )


def _create_and_send(
    user: User,
    *,
    request: HttpRequest | None,
    key: ApiKey | None,
    level: str,
    experiment: Experiment,
    room: Room | None,
    participant: Participant | None,
    types: list[T.DataType],
    fmt: str,
    anonymization: str,
    include_media: bool,
    data_request: DataRequest | None = None,
    filters: dict[str, str] | None = None,
    csv_bom: bool = False,
) -> ExportJob:
    # Filters and the BOM only when asked for: the fingerprints of other requests stay as
    # they were.
    extra: dict[str, Any] = {}
    if filters:
        extra["filters"] = orjson.dumps(filters, option=orjson.OPT_SORT_KEYS).decode()
    if csv_bom:
        extra["bom"] = True
    fingerprint = _fingerprint(
        level=level,
        experiment=experiment.pk,
        room=room.pk if room else "",
        participant=participant.pk if participant else "",
        types=",".join(dt.key for dt in types),
        fmt=fmt,
        mode=anonymization,
        media=include_media,
        request=data_request.pk if data_request else "",
        key=key.pk if key else "",
        **extra,
    )
    running = _active_job(user, fingerprint)
    if running is not None:
        return running
    job = ExportJob(
        user=user,
        level=level,
        experiment=experiment,
        room=room,
        participant=participant,
        data_request=data_request,
        api_key=key,
        started_with_key=key is not None,
        data_types=[dt.key for dt in types],
        fmt=fmt,
        anonymization=anonymization,
        include_media=include_media,
        filters=filters or {},
        csv_bom=csv_bom,
        fingerprint=fingerprint,
        site_url=request.build_absolute_uri("/") if request is not None else "",
        message="Waiting for a worker…",
    )
    sent: dict[str, Exception] = {}
    try:
        with transaction.atomic():
            job.save()
            audit_job("export.started", job, user, request=request, with_rows=False)
            transaction.on_commit(lambda: _send(job, sent))
    except IntegrityError:
        # An identical job was inserted (or un-cancelled) by a concurrent request.
        running = _active_job(user, fingerprint)
        if running is None:
            raise ExportBusy(
                "An identical export is starting or stopping right now; "
                "please try again in a moment."
            ) from None
        return running
    if "error" in sent:
        raise ExportUnavailable(job.error)
    return job


def _active_job(user: User, fingerprint: str) -> ExportJob | None:
    """The user's identical job that can still finish: the one the fingerprint rule counts."""
    return (
        ExportJob.objects.filter(CAN_FINISH, user=user, fingerprint=fingerprint)
        .order_by("-created_at")
        .first()
    )


def send_job(job: ExportJob) -> bool:
    """Queue a job (again); False, with the job marked failed, when the broker is down."""
    sent: dict[str, Exception] = {}
    _send(job, sent)
    return "error" not in sent


def _send(job: ExportJob, sent: dict[str, Exception]) -> None:
    from .tasks import run_export

    try:
        run_export.apply_async(args=[job.pk], retry=False)
    except (KombuOperationalError, ConnectionError, OSError) as exc:
        log.warning("export %s could not be queued: %s", job.public_id, exc)
        job.status = Status.FAILED
        job.error = (
            "The export service is not reachable right now, so the export could not start. "
            "Please try again in a minute."
        )
        job.message = "Could not start"
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "error", "message", "finished_at"])
        sent["error"] = exc


def cancel_export(job: ExportJob, user: User, *, request: HttpRequest | None = None) -> ExportJob:
    """Ask a queued or running job to stop. The task sees the flag within a chunk and removes
    its files; a job that has not started, or whose worker is gone (no heartbeat for
    ``EXPORT_LOST_AFTER`` seconds), is cancelled at once."""
    from .tasks import cancel_lost

    _own(job, user)
    with transaction.atomic():
        job = ExportJob.objects.select_for_update().get(pk=job.pk)
        if not job.is_active:
            return job
        job.cancel_requested = True
        fields = ["cancel_requested"]
        if job.status == Status.QUEUED:
            job.status = Status.CANCELLED
            job.message = "Cancelled"
            job.finished_at = timezone.now()
            fields += ["status", "message", "finished_at"]
        elif cancel_lost(job):
            fields += ["status", "message", "finished_at"]
        else:
            job.message = "Cancelling…"
            fields.append("message")
        job.save(update_fields=fields)
        audit_job("export.cancelled", job, user, request=request)
    return job


def delete_export(job: ExportJob, user: User, *, request: HttpRequest | None = None) -> None:
    """Remove a job and its file (a running job is cancelled first)."""
    _own(job, user)
    audit_job("export.deleted", job, user, request=request)
    _remove(job)


def _remove(job: ExportJob) -> None:
    if job.is_active:
        ExportJob.objects.filter(pk=job.pk).update(cancel_requested=True)
    if job.file:
        default_storage.delete(job.file.name)
    for piece in job.pieces.exclude(file=""):
        default_storage.delete(piece.file)
    job.delete()


def _own(job: ExportJob, user: User) -> None:
    if job.user_id != getattr(user, "pk", None):
        raise Http404("No such export")


def jobs_for(user: User):
    """The user's own export jobs, newest first (nobody sees anyone else's)."""
    if not getattr(user, "is_authenticated", False):
        return ExportJob.objects.none()
    return ExportJob.objects.filter(user=user).select_related("experiment", "room", "participant")


def get_job(user: User, public_id: Any) -> ExportJob:
    try:
        return jobs_for(user).get(public_id=uuid.UUID(str(public_id)))
    except (ExportJob.DoesNotExist, ValueError):
        raise Http404("No such export") from None


def record_download(job: ExportJob, request: HttpRequest | None, *, via: str) -> None:
    signed_in = request is not None and request.user.is_authenticated
    audit_job("export.downloaded", job, None if signed_in else job.user, request=request, via=via)


def signed_download_url(job: ExportJob, request: HttpRequest | None = None) -> str | None:
    """An expiring link to a finished file that works without a session (for API scripts)."""
    if not job.is_downloadable:
        return None
    token = signing.TimestampSigner(salt=_SIGN_SALT).sign(job.public_id.hex)
    path = reverse("exports:signed_download", args=[token])
    return request.build_absolute_uri(path) if request is not None else path


def job_from_token(token: str) -> ExportJob:
    try:
        value = signing.TimestampSigner(salt=_SIGN_SALT).unsign(
            token, max_age=settings.SIGNED_URL_MAX_AGE
        )
        return ExportJob.objects.select_related("experiment", "user").get(public_id=value)
    except (signing.BadSignature, ExportJob.DoesNotExist, ValueError):
        raise Http404("This link is invalid or has expired") from None


def participant_label(job: ExportJob, reader: access.Access | None = None) -> str:
    """The participant of a job as the reader (default: the job's owner, now) may see it:
    a code unless they see identifiers."""
    if not job.participant_id:
        return ""
    pid = job.participant.public_id
    if job.anonymization == SELF:
        return pid
    return (reader or access.for_user(job.user)).ref(job.experiment, pid)


def room_label(job: ExportJob, reader: access.Access | None = None) -> str:
    """The room of a job as the reader (default: the job's owner, now) may see it: a code
    unless they see room ids (the participant's own copy names their own rooms)."""
    if not job.room_id:
        return ""
    if job.anonymization == SELF:
        return job.room.public_id
    return (reader or access.for_user(job.user)).room_ref(job.experiment, job.room.public_id)


def job_policy(job: ExportJob):
    """The de-identification of the job's file."""
    own = job.participant if job.anonymization == SELF else None
    return anonymize.policy_for(job.anonymization, job.experiment.public_id, own)


def shown_filters(job: ExportJob, reader: access.Access | None = None) -> dict[str, str]:
    """The job's filters as its file records them, and, for an export with identifiers
    kept, as the reader (default: the job's owner, now) may see them."""
    if not job.filters:
        return {}
    dt = T.BY_KEY[job.data_types[0]]
    policy = job_policy(job)
    if policy.identifiers:
        policy = (reader or access.for_user(job.user)).policy(job.experiment)
    return contextual.recorded(dt, job.filters, policy)


def filters_text(job: ExportJob, reader: access.Access | None = None) -> str:
    """ "Event type: component.complete · From (time): …" for the job list and progress."""
    if not job.filters:
        return ""
    dt = T.BY_KEY[job.data_types[0]]
    return " · ".join(f"{k}: {v}" for k, v in contextual.described(dt, shown_filters(job, reader)))


def scope_text(job: ExportJob, reader: access.Access | None = None) -> str:
    parts = [job.experiment.public_id]
    if job.room_id:
        parts.append(room_label(job, reader))
    if job.participant_id:
        parts.append(participant_label(job, reader))
    return " / ".join(parts)


def audit_job(
    action: str,
    job: ExportJob,
    actor: User | None,
    *,
    request: HttpRequest | None = None,
    with_rows: bool = True,
    **details: Any,
) -> None:
    """One audit entry about an export job: its scope, the rows written so far (unless
    ``with_rows`` is False), its settings and state, and ``details``."""
    audit.record(
        action,
        actor=actor,
        request=request,
        experiment=job.experiment,
        scope=scope_text(job),
        rows=job.rows_done if with_rows else None,
        details={
            "export": str(job.public_id),
            "level": job.level,
            "format": job.fmt,
            "anonymization": job.anonymization,
            "dataTypes": job.data_types,
            "includeMedia": job.include_media,
            # The filters' names only: their values may be words someone searched for.
            **({"filters": sorted(job.filters)} if job.filters else {}),
            **({"csvBom": True} if job.csv_bom else {}),
            "status": job.status,
            "sha256": job.sha256,
            "size": job.size,
            **details,
        },
    )


def job_as_dict(job: ExportJob, request: HttpRequest | None = None) -> dict[str, Any]:
    """The job as the API returns it and the progress modal shows it."""
    return {
        "id": str(job.public_id),
        "state": job.status,
        "level": job.level,
        "scope": {
            "experimentId": job.experiment.public_id,
            "roomId": room_label(job) or None,
            "participantId": participant_label(
                job, access.for_request(request) if request is not None else None
            )
            or None,
        },
        "format": job.fmt,
        "anonymization": job.anonymization,
        "dataTypes": [T.BY_KEY[k].api_name for k in job.data_types if k in T.BY_KEY],
        "includeMedia": job.include_media,
        "filters": shown_filters(job, access.for_request(request) if request is not None else None),
        "csvBom": job.csv_bom,
        "progress": job.percent,
        "rowsDone": job.rows_done,
        "rowsExpected": job.rows_expected,
        "message": job.message,
        "error": job.error or None,
        "fileName": job.file_name or None,
        "size": job.size,
        "sha256": job.sha256 or None,
        "downloadUrl": signed_download_url(job, request),
        "createdAt": T.iso(job.created_at),
        "startedAt": T.iso(job.started_at),
        "finishedAt": T.iso(job.finished_at),
        "expiresAt": T.iso(job.expires_at),
    }


def delete_exports_containing(
    *,
    experiment: Experiment | None = None,
    room: Room | None = None,
    participant: Participant | None = None,
) -> int:
    """Remove every export (file and job) that holds data of the given experiment, room or
    participant; running ones are cancelled. Call it before the data itself is deleted.
    Returns the number of jobs removed."""
    q = Q(pk__in=[])
    if experiment is not None:
        q |= Q(experiment=experiment)
    if room is not None:
        q |= Q(room=room) | Q(experiment_id=room.experiment_id, room__isnull=True)
    if participant is not None:
        rooms = RoomParticipant.objects.filter(participant=participant)
        q |= Q(participant=participant)
        q |= Q(room__in=rooms.values("room_id"), participant__isnull=True)
        q |= Q(experiment__rooms__in=rooms.values("room_id"), room__isnull=True)
    removed = 0
    for job in ExportJob.objects.filter(q).distinct():
        _remove(job)
        removed += 1
    return removed


def expiry_from_now() -> timezone.datetime:
    return timezone.now() + timedelta(hours=settings.EXPORT_RETENTION_HOURS)


def download_name(job: ExportJob, ext: str) -> str:
    """A file name safe in Content-Disposition: ASCII, no ids in de-identified exports."""
    from .writers import safe_name

    policy = job_policy(job)
    parts = [job.experiment.public_id]
    if job.room_id:
        parts.append(policy.room(job.room.public_id))
    if job.participant_id:
        parts.append(policy.participant(job.participant.public_id))
    if len(job.data_types) == 1:
        parts.append(job.data_types[0])
    if job.filters:  # never their values: a file name says that it is filtered, not by what
        parts.append("filtered")
    if job.anonymization != Anonymization.KEEP:
        parts.append({SELF: "my_data"}.get(job.anonymization, job.anonymization))
    parts.append(timezone.now().strftime("%Y%m%d-%H%M"))
    return safe_name("_".join(parts)) + "." + ext
