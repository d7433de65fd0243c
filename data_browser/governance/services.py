"""Governance as plain functions: memberships, lab accounts, data requests, deletion,
retention and the experiment lifecycle.

Views, the Celery task and the management commands all call these, so the rules
(who may, what must stay true, what gets audited) hold whichever door is used.
Every function either completes and writes its audit entry, or raises and changes
nothing: ``GovernanceError`` for bad input (shown to the user as a message) and
``PermissionDenied`` for an action the actor may not take.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from data_browser import access, audit, versions
from data_browser import datatypes as T
from data_browser.identity import participant_code
from data_browser.models import (
    ApiKey,
    AuditEntry,
    ChatMessage,
    DataRequest,
    Experiment,
    ExportRight,
    Membership,
    Participant,
    Profile,
    Recording,
    Room,
    RoomParticipant,
)
from data_browser.signals import data_deleting

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

log = logging.getLogger(__name__)


class GovernanceError(Exception):
    """Bad input or a state that forbids the change; the message is meant for the user."""


class NothingToDelete(GovernanceError):
    pass


# Memberships.

ROLE_RANK = {Membership.Role.COLLABORATOR: 0, Membership.Role.OWNER: 1}


def _rank(role: str, export_right: str) -> tuple[int, int]:
    return ROLE_RANK[role], ExportRight.rank(export_right)


def _check_choice(value: str, choices: type, what: str) -> str:
    if value not in choices.values:
        allowed = ", ".join(choices.values)
        raise GovernanceError(f"“{value}” is not a valid {what}; choose one of: {allowed}.")
    return value


def find_user(identifier: str) -> AbstractBaseUser:
    """The active, non-participant account with this username or email."""
    identifier = (identifier or "").strip()
    if not identifier:
        raise GovernanceError("Enter a username or an email address.")
    User = get_user_model()
    matches = list(
        User.objects.filter(Q(username__iexact=identifier) | Q(email__iexact=identifier))[:2]
    )
    if not matches:
        raise GovernanceError(f"No account has the username or email “{identifier}”.")
    if len(matches) > 1:
        raise GovernanceError(
            f"Several accounts use “{identifier}”; enter the username instead of the email."
        )
    user = matches[0]
    if not user.is_active:
        raise GovernanceError(f"The account “{user.get_username()}” is deactivated.")
    if access.participant_of(user) is not None:
        raise GovernanceError(
            f"“{user.get_username()}” is a participant account and cannot be given access."
        )
    return user


def _require_manage(actor: Any, experiment: Experiment) -> None:
    if not access.for_user(actor).can_manage(experiment):
        raise PermissionDenied("Only the experiment's owners and lab admins manage access.")


def _lock(experiment: Experiment) -> Experiment:
    return Experiment.objects.select_for_update().get(pk=experiment.pk)


def _describe(m: Membership) -> dict[str, str]:
    return {"user": m.user.get_username(), "role": m.role, "export_right": m.export_right}


def add_member(
    actor: Any,
    experiment: Experiment,
    identifier: str,
    *,
    role: str = Membership.Role.COLLABORATOR,
    export_right: str = ExportRight.NONE,
    request: HttpRequest | None = None,
) -> Membership:
    """Give an account access. A lab admin may name themselves: that is how they reach data."""
    _require_manage(actor, experiment)
    _check_choice(role, Membership.Role, "role")
    _check_choice(export_right, ExportRight, "export right")
    user = find_user(identifier)
    if role == Membership.Role.OWNER:
        export_right = ExportRight.FULL
    with transaction.atomic():
        _lock(experiment)
        if Membership.objects.filter(user=user, experiment=experiment).exists():
            raise GovernanceError(
                f"“{user.get_username()}” already has access; change their right instead."
            )
        m = Membership.objects.create(
            user=user, experiment=experiment, role=role, export_right=export_right
        )
        audit.record(
            "membership.added",
            actor=actor,
            request=request,
            experiment=experiment,
            scope=f"membership of {user.get_username()}",
            details={**_describe(m), "self_granted": user.pk == getattr(actor, "pk", None)},
        )
    return m


def _owners_left(experiment: Experiment, excluding: Membership) -> int:
    return (
        Membership.objects.filter(experiment=experiment, role=Membership.Role.OWNER)
        .exclude(pk=excluding.pk)
        .count()
    )


def change_member(
    actor: Any,
    membership: Membership,
    *,
    role: str | None = None,
    export_right: str | None = None,
    request: HttpRequest | None = None,
) -> Membership:
    experiment = membership.experiment
    _require_manage(actor, experiment)
    role = _check_choice(role or membership.role, Membership.Role, "role")
    export_right = _check_choice(export_right or membership.export_right, ExportRight, "right")
    if role == Membership.Role.OWNER:
        export_right = ExportRight.FULL
    is_self = membership.user_id == getattr(actor, "pk", None)
    raises = _rank(role, export_right) > _rank(membership.role, membership.export_right)
    if is_self and raises and not access.is_lab_admin(actor):
        raise PermissionDenied("Nobody can raise their own rights.")
    with transaction.atomic():
        _lock(experiment)
        m = Membership.objects.select_related("user").get(pk=membership.pk)
        before = _describe(m)
        if m.role == Membership.Role.OWNER and role != m.role and not _owners_left(experiment, m):
            raise GovernanceError(
                "An experiment must keep at least one owner: make someone else owner first."
            )
        m.role, m.export_right = role, export_right
        m.save(update_fields=["role", "export_right"])
        audit.record(
            "membership.changed",
            actor=actor,
            request=request,
            experiment=experiment,
            scope=f"membership of {m.user.get_username()}",
            details={"before": before, "after": _describe(m)},
        )
    return m


def remove_member(
    actor: Any, membership: Membership, *, request: HttpRequest | None = None
) -> None:
    experiment = membership.experiment
    _require_manage(actor, experiment)
    with transaction.atomic():
        _lock(experiment)
        m = Membership.objects.select_related("user").filter(pk=membership.pk).first()
        if m is None:
            raise GovernanceError("This membership was already removed.")
        if m.role == Membership.Role.OWNER and not _owners_left(experiment, m):
            raise GovernanceError(
                "An experiment must keep at least one owner: make someone else owner first."
            )
        before = _describe(m)
        m.delete()
        audit.record(
            "membership.removed",
            actor=actor,
            request=request,
            experiment=experiment,
            scope=f"membership of {before['user']}",
            details={"before": before},
        )


def share_ownership(
    actor: Any,
    experiment: Experiment,
    identifier: str,
    *,
    transfer: bool = False,
    request: HttpRequest | None = None,
) -> Membership:
    """Make someone an owner; with ``transfer`` the acting owner steps down to a full
    collaborator in the same transaction, so the experiment is never without an owner."""
    _require_manage(actor, experiment)
    user = find_user(identifier)
    mine = access.for_user(actor).membership(experiment)
    if transfer and (mine is None or mine.role != Membership.Role.OWNER):
        raise GovernanceError("Only an owner can transfer their ownership.")
    if transfer and user.pk == actor.pk:
        raise GovernanceError("Choose someone else to transfer ownership to.")
    with transaction.atomic():
        _lock(experiment)
        m, created = Membership.objects.get_or_create(
            user=user,
            experiment=experiment,
            defaults={"role": Membership.Role.OWNER, "export_right": ExportRight.FULL},
        )
        if not created and m.role == Membership.Role.OWNER and not transfer:
            raise GovernanceError(f"“{user.get_username()}” is already an owner.")
        m.role, m.export_right = Membership.Role.OWNER, ExportRight.FULL
        m.save(update_fields=["role", "export_right"])
        if transfer:
            Membership.objects.filter(pk=mine.pk).update(
                role=Membership.Role.COLLABORATOR, export_right=ExportRight.FULL
            )
        audit.record(
            "ownership.transferred" if transfer else "ownership.shared",
            actor=actor,
            request=request,
            experiment=experiment,
            scope=f"ownership to {user.get_username()}",
            details={"to": user.get_username(), "previous_owner_kept": not transfer},
        )
    return m


# Lab accounts and keys (lab admins).


def _require_lab_admin(actor: Any) -> int:
    if not access.is_lab_admin(actor):
        raise PermissionDenied("Only lab admins manage the lab's accounts and keys.")
    return access.profile(actor).lab_id


def set_user_active(
    actor: Any, user: Any, *, active: bool, request: HttpRequest | None = None
) -> None:
    _require_lab_admin(actor)
    if not access.lab_users(actor).filter(pk=user.pk).exists():
        raise PermissionDenied("That account is not in your lab.")
    if user.pk == actor.pk:
        raise GovernanceError("You cannot deactivate your own account.")
    if user.is_active == active:
        state = "active" if active else "deactivated"
        raise GovernanceError(f"“{user.get_username()}” is already {state}.")
    with transaction.atomic():
        type(user).objects.filter(pk=user.pk).update(is_active=active)
        user.is_active = active
        audit.record(
            "user.activated" if active else "user.deactivated",
            actor=actor,
            request=request,
            lab=access.profile(actor).lab,
            scope=f"account {user.get_username()}",
        )


def revoke_key(actor: Any, key: ApiKey, *, request: HttpRequest | None = None) -> None:
    """A lab admin's revocation of any key in the lab (owners revoke their own on the key page)."""
    _require_lab_admin(actor)
    with transaction.atomic():
        locked = access.lab_api_keys(actor).select_for_update().filter(pk=key.pk).first()
        if locked is None:
            raise PermissionDenied("That key does not belong to your lab.")
        if locked.revoked_at is not None:
            raise GovernanceError(f"The key “{locked.name}” is already revoked.")
        locked.revoked_at = timezone.now()
        locked.revoked_by = actor
        locked.save(update_fields=["revoked_at", "revoked_by"])
        audit.record(
            "api_key.revoked",
            actor=actor,
            request=request,
            lab=access.profile(actor).lab,
            scope=f"key {locked.prefix}…{locked.last_four}",
            details={"key": str(locked), "owner": locked.user.get_username(), "by": "lab admin"},
        )


# Deletion.


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
        _lock(scope.experiment)
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


# Retention and the experiment lifecycle.


def _require_owner(actor: Any, experiment: Experiment) -> None:
    if not access.for_user(actor).is_owner(experiment):
        raise PermissionDenied("Only the experiment's owners change its retention and status.")


def set_retention(
    actor: Any,
    experiment: Experiment,
    until: date | None,
    *,
    today: date | None = None,
    request: HttpRequest | None = None,
) -> None:
    _require_owner(actor, experiment)
    today = today or timezone.localdate()
    if until is not None and until < today:
        raise GovernanceError(f"The deletion date {until:%Y-%m-%d} is in the past.")
    before = experiment.retention_until
    with transaction.atomic():
        Experiment.objects.filter(pk=experiment.pk).update(retention_until=until)
        experiment.retention_until = until
        audit.record(
            "retention.set",
            actor=actor,
            request=request,
            experiment=experiment,
            scope=f"experiment {experiment.public_id}",
            details={
                "before": before.isoformat() if before else None,
                "after": until.isoformat() if until else None,
            },
        )


@dataclass
class RetentionRun:
    today: date
    deleted: dict[str, Plan] = field(default_factory=dict)  # experiment public id -> plan
    completed: list[str] = field(default_factory=list)

    @property
    def records(self) -> int:
        return sum(p.records for p in self.deleted.values())


def run_retention(*, today: date | None = None) -> RetentionRun:
    """Delete the data of every experiment whose retention date has passed. Running it again
    finds nothing left and removes nothing: only the run itself is recorded."""
    today = today or timezone.localdate()
    run = RetentionRun(today=today)
    for experiment in Experiment.objects.filter(retention_until__lt=today).order_by("pk"):
        with contextlib.suppress(NothingToDelete):
            run.deleted[experiment.public_id] = delete_data(
                None, Scope(experiment), reason="retention", check_rights=False
            )
        # Past its date an experiment takes no new data, which would only be deleted again.
        if experiment.status == Experiment.Status.ACTIVE:
            Experiment.objects.filter(pk=experiment.pk).update(status=Experiment.Status.COMPLETED)
            run.completed.append(experiment.public_id)
    audit.record(
        "retention.run",
        scope=f"experiments with a deletion date before {today:%Y-%m-%d}",
        rows=run.records,
        details={
            "today": today.isoformat(),
            "deleted": {exp: plan.counts for exp, plan in run.deleted.items()},
            "completed": run.completed,
        },
    )
    return run


def archive(actor: Any, experiment: Experiment, *, request: HttpRequest | None = None) -> None:
    _require_owner(actor, experiment)
    with transaction.atomic():
        exp = _lock(experiment)
        if exp.status == Experiment.Status.ARCHIVED:
            raise GovernanceError("This experiment is already archived.")
        exp.status_before_archive, exp.status = exp.status, Experiment.Status.ARCHIVED
        exp.save(update_fields=["status", "status_before_archive"])
        _status_audit("experiment.archived", actor, exp, exp.status_before_archive, request)
    experiment.refresh_from_db()


def restore(actor: Any, experiment: Experiment, *, request: HttpRequest | None = None) -> None:
    _require_owner(actor, experiment)
    with transaction.atomic():
        exp = _lock(experiment)
        if exp.status != Experiment.Status.ARCHIVED:
            raise GovernanceError("This experiment is not archived.")
        exp.status = exp.status_before_archive or Experiment.Status.ACTIVE
        exp.status_before_archive = ""
        exp.save(update_fields=["status", "status_before_archive"])
        _status_audit("experiment.restored", actor, exp, Experiment.Status.ARCHIVED, request)
    experiment.refresh_from_db()


def complete(actor: Any, experiment: Experiment, *, request: HttpRequest | None = None) -> None:
    _require_owner(actor, experiment)
    with transaction.atomic():
        exp = _lock(experiment)
        if exp.status != Experiment.Status.ACTIVE:
            raise GovernanceError(
                f"Only an active experiment can be completed (it is {exp.status})."
            )
        exp.status = Experiment.Status.COMPLETED
        exp.save(update_fields=["status"])
        _status_audit("experiment.completed", actor, exp, Experiment.Status.ACTIVE, request)
    experiment.refresh_from_db()


def _status_audit(
    action: str, actor: Any, exp: Experiment, before: str, request: HttpRequest | None
) -> None:
    audit.record(
        action,
        actor=actor,
        request=request,
        experiment=exp,
        scope=f"experiment {exp.public_id}",
        details={"before": before, "after": exp.status},
    )


# Participants' requests.


def participant_experiments(user: Any):
    """Experiments the participant account took part in."""
    reader = access.for_user(user)
    if reader.own_participant is None:
        return Experiment.objects.none()
    return reader.experiments()


def create_request(
    user: Any, experiment: Experiment, kind: str, *, request: HttpRequest | None = None
) -> DataRequest:
    participant = access.participant_of(user)
    if participant is None or not participant_experiments(user).filter(pk=experiment.pk).exists():
        raise PermissionDenied("Only participants of this experiment can make requests.")
    _check_choice(kind, DataRequest.Kind, "request")
    if not experiment.allow_participant_requests:
        raise GovernanceError("This experiment does not take requests from participants.")
    with transaction.atomic():
        _lock(experiment)
        if DataRequest.objects.filter(
            participant=participant,
            experiment=experiment,
            kind=kind,
            status=DataRequest.Status.PENDING,
        ).exists():
            raise GovernanceError("You already have a pending request of this kind.")
        dr = DataRequest.objects.create(
            participant=participant, experiment=experiment, kind=kind, requested_by=user
        )
        audit.record(
            "data_request.created",
            actor=user,
            request=request,
            experiment=experiment,
            scope=Scope(experiment, participant=participant).label,
            details={"request": dr.pk, "kind": kind},
        )
    return dr


def pending_requests(experiment: Experiment):
    return DataRequest.objects.filter(experiment=experiment, status=DataRequest.Status.PENDING)


def decide_request(
    actor: Any,
    data_request: DataRequest,
    *,
    approve: bool,
    note: str = "",
    request: HttpRequest | None = None,
) -> DataRequest:
    """Approving an access request prepares an export of the participant's own records (others
    anonymized); approving a deletion request deletes their data in the experiment."""
    experiment = data_request.experiment
    _require_owner(actor, experiment)
    with transaction.atomic():
        dr = DataRequest.objects.select_for_update().get(pk=data_request.pk)
        if dr.status != DataRequest.Status.PENDING:
            raise GovernanceError(
                f"This request was already {dr.get_status_display().lower()}"
                f"{f' on {dr.decided_at:%Y-%m-%d}' if dr.decided_at else ''}."
            )
        scope = Scope(experiment, participant=dr.participant)
        outcome: dict[str, Any] = {}
        if approve and dr.kind == DataRequest.Kind.DELETION:
            try:
                plan = delete_data(
                    actor, scope, reason=f"participant request {dr.pk}", request=request
                )
                outcome["records_deleted"] = plan.records
            except NothingToDelete:
                outcome["records_deleted"] = 0
        dr.status = DataRequest.Status.APPROVED if approve else DataRequest.Status.DECLINED
        dr.decided_at = timezone.now()
        dr.decided_by = actor
        dr.note = note
        dr.save(update_fields=["status", "decided_at", "decided_by", "note"])
        if approve and dr.kind == DataRequest.Kind.ACCESS:
            outcome["export"] = str(participant_export(dr).public_id)
        audit.record(
            f"data_request.{dr.status}",
            actor=actor,
            request=request,
            experiment=experiment,
            scope=scope.label,
            details={"request": dr.pk, "kind": dr.kind, **outcome},
        )
    return dr


def participant_export(dr: DataRequest, *, request: HttpRequest | None = None) -> Any:
    """Start the export of an approved access request, owned by the participant's account so
    that it appears under their exports and only they download it (the exports app builds it:
    their own records, their own id kept, everyone else's identifiers removed)."""
    from exports.services import start_export

    account = Profile.objects.filter(participant=dr.participant, user__is_active=True).first()
    if account is None:
        raise GovernanceError("The participant has no active account to receive the export.")
    return start_export(
        account.user,
        level="experiment",
        experiment_id=dr.experiment.public_id,
        for_participant_request=dr,
        request=request,
    )
