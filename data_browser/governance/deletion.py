"""Deleting an experiment's, a room's or a participant's data: the records of all seven
types, the recording files and the export files holding them, in one transaction.

Owners delete from the dashboard, the retention run deletes what has passed its date, and an
approved deletion request deletes the participant's data: all three call ``delete_data``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest

from data_browser import access, audit, counts, versions
from data_browser import datatypes as T
from data_browser.identity import participant_code
from data_browser.models import (
    AuditEntry,
    ChatMessage,
    DataRequest,
    Experiment,
    Participant,
    Profile,
    Recording,
    Room,
    RoomParticipant,
)
from data_browser.signals import data_deleting

from .rules import GovernanceError, lock

log = logging.getLogger(__name__)


class NothingToDelete(GovernanceError):
    pass


def participant_label(experiment_public_id: str, participant_public_id: str) -> str:
    code = participant_code(experiment_public_id, participant_public_id)
    return f"participant {code} in {experiment_public_id}"


@dataclass(frozen=True)
class Scope:
    """What a deletion covers: an experiment, one of its rooms, or one participant in it."""

    experiment: Experiment
    room: Room | None = None
    participant: Participant | None = None

    def record_filter(self) -> Q:
        q = Q(experiment=self.experiment)
        if self.room is not None:
            q &= Q(room=self.room)
        if self.participant is not None:
            q &= Q(participant=self.participant)
        return q

    def room_participants(self):
        qs = RoomParticipant.objects.filter(room__experiment=self.experiment)
        if self.room is not None:
            qs = qs.filter(room=self.room)
        if self.participant is not None:
            qs = qs.filter(participant=self.participant)
        return qs

    @property
    def label(self) -> str:
        """The scope with identifiers masked: participants appear only by their code."""
        if self.participant is not None:
            return participant_label(self.experiment.public_id, self.participant.public_id)
        if self.room is not None:
            return f"room {self.room.public_id} in {self.experiment.public_id}"
        return f"experiment {self.experiment.public_id}"


@dataclass
class Plan:
    scope: Scope
    counts: dict[str, int] = field(default_factory=dict)  # data type key -> rows
    files: int = 0
    sessions: int = 0  # room memberships (rooms for a room or experiment)
    rooms: int = 0

    @property
    def records(self) -> int:
        return sum(self.counts.values())

    @property
    def is_empty(self) -> bool:
        return not self.records and not self.sessions and not self.rooms

    def rows(self) -> list[tuple[str, int]]:
        return [(T.BY_KEY[k].label, n) for k, n in self.counts.items()]


def plan_deletion(scope: Scope) -> Plan:
    """What a deletion would remove, counted per data type, for the confirmation page."""
    q = scope.record_filter()
    plan = Plan(scope=scope)
    for dt in T.DATA_TYPES:
        plan.counts[dt.key] = dt.model.objects.filter(q).count()
    plan.files = Recording.objects.filter(q).exclude(file="").count()
    plan.sessions = scope.room_participants().count()
    if scope.participant is None:
        rooms = Room.objects.filter(experiment=scope.experiment)
        plan.rooms = rooms.filter(pk=scope.room.pk).count() if scope.room else rooms.count()
    return plan


def _forget_participants(participant_ids: set[int]) -> None:
    """Participants left in no room lose their identifying fields; with nothing else pointing
    at them (an account, a request, a record elsewhere) they go entirely."""
    gone = set(
        Participant.objects.filter(pk__in=participant_ids)
        .exclude(room_participants__isnull=False)
        .values_list("pk", flat=True)
    )
    if not gone:
        return
    Participant.objects.filter(pk__in=gone).update(display_name="", email="", ip_address=None)
    keep = set(
        Profile.objects.filter(participant_id__in=gone).values_list("participant_id", flat=True)
    )
    keep |= set(
        DataRequest.objects.filter(participant_id__in=gone).values_list("participant_id", flat=True)
    )
    for dt in T.DATA_TYPES:
        keep |= set(
            dt.model.objects.filter(participant_id__in=gone - keep)
            .values_list("participant_id", flat=True)
            .distinct()
        )
    Participant.objects.filter(pk__in=gone - keep).delete()


def _drop_from_recipient_lists(scope: Scope) -> None:
    """Messages of others keep no trace of a deleted participant among their recipients."""
    pid = scope.participant.public_id
    rooms = scope.room_participants().values("room_id")
    for msg in ChatMessage.objects.filter(room_id__in=rooms).only("pk", "recipient_ids"):
        if pid in (msg.recipient_ids or []):
            msg.recipient_ids = [r for r in msg.recipient_ids if r != pid]
            msg.save(update_fields=["recipient_ids"])


def _delete_exports(scope: Scope) -> int:
    """Finished export files holding any of the data go too; the exports app needs the room
    memberships to find them, so this runs before the data itself is deleted."""
    whole_experiment = scope.room is None and scope.participant is None
    answers = data_deleting.send(
        sender=Scope,
        experiment=scope.experiment if whole_experiment else None,
        room=scope.room,
        participant=scope.participant,
    )
    return sum(removed for _, removed in answers if isinstance(removed, int))


def delete_data(
    actor: Any,
    scope: Scope,
    *,
    reason: str = "owner",
    request: HttpRequest | None = None,
    check_rights: bool = True,
) -> Plan:
    """Remove the records of all seven types in ``scope``, the recording files and the export
    files holding them, in one transaction; the audit entry names the scope by codes only."""
    if check_rights and not access.for_user(actor).is_owner(scope.experiment):
        raise PermissionDenied("Only the experiment's owners delete data.")
    with transaction.atomic():
        lock(scope.experiment)
        plan = plan_deletion(scope)
        if plan.is_empty:
            raise NothingToDelete(f"There is nothing left to delete for {scope.label}.")
        q = scope.record_filter()
        files = list(Recording.objects.filter(q).exclude(file="").values_list("file", flat=True))
        exports_removed = _delete_exports(scope)
        if scope.participant is not None:
            _drop_from_recipient_lists(scope)
        for dt in T.DATA_TYPES:
            dt.model.objects.filter(q).delete()
        counts.forget(q)
        people = set(scope.room_participants().values_list("participant_id", flat=True))
        if scope.participant is not None:
            scope.room_participants().delete()
        elif scope.room is not None:
            Room.objects.filter(pk=scope.room.pk).delete()
        else:
            Room.objects.filter(experiment=scope.experiment).delete()
        _forget_participants(people)
        audit.record(
            "data.deleted",
            actor=actor,
            request=request,
            experiment=scope.experiment,
            scope=scope.label,
            rows=plan.records,
            details={
                "reason": reason,
                "records": plan.counts,
                "files": plan.files,
                "sessions": plan.sessions,
                "rooms": plan.rooms,
                "exports": exports_removed,
                "room": scope.room.public_id if scope.room is not None else None,
            },
        )
        transaction.on_commit(lambda: _delete_files(files))
        versions.bump([scope.experiment.pk])
    return plan


def _delete_files(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except Exception:  # a missing or unreachable file must not undo a committed deletion
            log.exception("could not delete recording file %s", name)


def earlier_room_deletion(experiment: Experiment, room_public_id: str) -> AuditEntry | None:
    """The audit entry of an earlier deletion of this room, to say so instead of a bare 404."""
    return (
        AuditEntry.objects.filter(
            experiment=experiment, action="data.deleted", details__room=room_public_id
        )
        .order_by("-id")
        .first()
    )


def earlier_participant_deletion(
    experiment: Experiment, participant_public_id: str
) -> AuditEntry | None:
    return (
        AuditEntry.objects.filter(
            experiment=experiment,
            action="data.deleted",
            scope=participant_label(experiment.public_id, participant_public_id),
        )
        .order_by("-id")
        .first()
    )
