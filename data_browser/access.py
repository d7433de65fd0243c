"""Who may see and do what: the one place that scopes data to a user (or an API key).

Every view, task and API endpoint asks one ``Access`` object (``for_request``): none
filters by user by hand. Objects outside a user's scope are reported as missing (404).
Viewing and exporting are different rights: browsing the dashboard is viewing; every
machine-readable read of records is exporting and needs the export right
(``Access.require_right``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from django.db.models import Q, QuerySet, TextChoices
from django.db.models.signals import m2m_changed
from django.dispatch import receiver
from django.http import Http404, HttpRequest

from . import datatypes as T
from .identity import ROOM_PREFIX, Policy, find_room, participant_code, room_code
from .models import (
    ApiKey,
    AuditEntry,
    Experiment,
    ExportRight,
    Membership,
    Participant,
    Profile,
    Room,
    RoomParticipant,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    User = AbstractBaseUser | AnonymousUser

CODE_PREFIX = "anon_"
VIEW = "view"
MANAGE = "manage"
LIST = "list"


class Anonymization(TextChoices):
    KEEP = "keep", "Keep identifiers"
    REMOVE = "remove", "Remove identifiers"
    AGGREGATE = "aggregate", "Aggregate only"


REQUIRED_RIGHT = {
    Anonymization.KEEP: ExportRight.FULL,
    Anonymization.REMOVE: ExportRight.DEIDENTIFIED,
    Anonymization.AGGREGATE: ExportRight.AGGREGATE,
}


def _active(user: User | None) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


def profile(user: User) -> Profile | None:
    if not _active(user):
        return None
    try:
        return user.profile
    except Profile.DoesNotExist:
        return None


def participant_of(user: User) -> Participant | None:
    p = profile(user)
    return p.participant if p is not None and p.participant_id else None


def is_lab_admin(user: User) -> bool:
    p = profile(user)
    return bool(p and p.is_lab_admin and p.lab_id)


def key_experiment_ids(key: ApiKey) -> list[int] | None:
    """The experiments a key is restricted to, or None when it is not restricted; read once
    per key object (a request checks them several times), with no query for an unrestricted
    key. A restricted key whose experiments are gone has the empty list: it reads nothing.
    Changing them through the key forgets the list read (``mark_key_restricted``)."""
    if not key.restricted:
        return None
    ids = key.__dict__.get("_restricted_to")
    if ids is None:
        ids = list(key.experiments.values_list("pk", flat=True)) if key.pk is not None else []
        key.__dict__["_restricted_to"] = ids
    return ids


@receiver(m2m_changed, sender=ApiKey.experiments.through)
def mark_key_restricted(sender: type, instance: object, action: str, **kwargs: object) -> None:
    """Experiments added to a key restrict it for good: removing them (or deleting the
    experiments) leaves a key that reads nothing, never one that reads everything."""
    if not isinstance(instance, ApiKey):
        return
    instance.__dict__.pop("_restricted_to", None)
    if action == "post_add" and not instance.restricted:
        instance.restricted = True
        ApiKey.objects.filter(pk=instance.pk).update(restricted=True)


class RightMissing(Exception):
    """A read or export that the export right does not cover: HTTP 403 naming the right."""

    def __init__(self, experiment: Experiment, needed: str, held: str) -> None:
        self.experiment = experiment
        self.needed = needed
        self.held = held
        labels = dict(ExportRight.choices)
        super().__init__(
            f"Reading records of experiment {experiment.public_id} is exporting: it needs the "
            f"export right “{labels[needed]}” ({needed}) or higher; this account has "
            f"“{labels[held]}” ({held})."
        )


ROW_LEVEL = ExportRight.DEIDENTIFIED  # the least right that lets records (not aggregates) out


class Access:
    """What one signed-in user, or one API key, may see and do: built once per request
    (``for_request``) or per check (``for_job``), and asked by every view, endpoint and task.

    The user's memberships (within a key's experiments) are read once, on first need, with
    their experiments: which experiments, with which export right, owner or not. A key acts
    through memberships only (a lab admin's lab-wide view and a participant account's own
    sessions are dashboard-only) and only while it is active and its owner is; its scopes
    limit the record types. It is a snapshot: build a new one to see changes.
    """

    def __init__(self, user: User, *, key: ApiKey | None = None) -> None:
        self.user = user
        self.key = key
        self.active = _active(user) and (
            key is None or (key.is_active and key.user_id == getattr(user, "pk", None))
        )

    # Who: memberships, read once.

    @cached_property
    def memberships(self) -> dict[int, Membership]:
        """The user's memberships by experiment pk (a key's restriction applied)."""
        if not self.active:
            return {}
        qs = Membership.objects.filter(user=self.user)
        if self.key is not None and (restricted := key_experiment_ids(self.key)) is not None:
            qs = qs.filter(experiment_id__in=restricted)
        qs = qs.select_related("experiment").only("role", "export_right", "experiment")
        return {m.experiment_id: m for m in qs}

    @cached_property
    def _by_public_id(self) -> dict[str, Experiment]:
        return {m.experiment.public_id: m.experiment for m in self.memberships.values()}

    @cached_property
    def own_participant(self) -> Participant | None:
        """The participant a participant account is (never through a key)."""
        return participant_of(self.user) if self.key is None and self.active else None

    def _member_ids(self) -> list[int] | QuerySet:
        """The member experiments: the list when the memberships are read already, else a
        subquery (a page that needs no more than one list costs no extra query)."""
        if "memberships" in self.__dict__ or not self.active:
            return list(self.memberships)
        qs = Membership.objects.filter(user=self.user)
        if self.key is not None and (restricted := key_experiment_ids(self.key)) is not None:
            qs = qs.filter(experiment_id__in=restricted)
        return qs.values("experiment_id")

    def is_member(self, experiment: Experiment) -> bool:
        return experiment.pk in self.memberships

    def membership(self, experiment: Experiment) -> Membership | None:
        return self.memberships.get(experiment.pk)

    def is_owner(self, experiment: Experiment) -> bool:
        m = self.memberships.get(experiment.pk)
        return m is not None and m.role == Membership.Role.OWNER

    # Rights.

    def export_right(self, experiment: Experiment) -> str:
        m = self.memberships.get(experiment.pk)
        return m.effective_export_right if m is not None else ExportRight.NONE

    def sees_identifiers(self, experiment: Experiment) -> bool:
        """Only owners and collaborators with the full export right see participant
        identifiers; everyone else sees the codes the de-identified exports use."""
        return self.export_right(experiment) == ExportRight.FULL

    def allowed_anonymizations(self, experiment: Experiment) -> list[str]:
        rank = ExportRight.rank(self.export_right(experiment))
        return [m for m, needed in REQUIRED_RIGHT.items() if ExportRight.rank(needed) <= rank]

    def can_export(self, experiment: Experiment, anonymization: str) -> bool:
        return anonymization in self.allowed_anonymizations(experiment)

    def require_right(self, experiment: Experiment, needed: str = ROW_LEVEL) -> None:
        """Raise ``RightMissing`` unless the export right reaches ``needed``: every
        machine-readable read of records (API data, CSV streams) is an export."""
        held = self.export_right(experiment)
        if ExportRight.rank(held) < ExportRight.rank(needed):
            raise RightMissing(experiment, needed, held)

    def allows(self, scope: str) -> bool:
        """Whether the key (if any) carries ``scope``; the dashboard has no scopes."""
        return self.key is None or (self.active and T.grants(self.key.scopes, scope))

    def can_manage(self, experiment: Experiment) -> bool:
        return self.experiments(action=MANAGE).filter(pk=experiment.pk).exists()

    # What: experiments, rooms, participants, records.

    def experiments(self, *, action: str = VIEW) -> QuerySet:
        """Experiments the user may browse (VIEW), manage access of (MANAGE), or see listed
        (LIST: lab admins see their lab's)."""
        qs = Experiment.objects.all()
        if not self.active:
            return qs.none()
        if action == MANAGE:
            if self.key is not None:
                return qs.none()
            p = profile(self.user)
            q = Q(memberships__user=self.user, memberships__role=Membership.Role.OWNER)
            if p is not None and p.is_lab_admin and p.lab_id:
                q |= Q(lab_id=p.lab_id)
            return qs.filter(q).distinct()
        if action == LIST and self.key is None and is_lab_admin(self.user):
            return qs.filter(Q(lab_id=profile(self.user).lab_id) | Q(pk__in=self._member_ids()))
        q = Q(pk__in=self._member_ids())
        if self.own_participant is not None:
            q |= Q(rooms__room_participants__participant=self.own_participant)
        return qs.filter(q).distinct()

    def experiment(self, public_id: str, *, action: str = VIEW) -> Experiment:
        """One experiment, or a 404 (a member's costs no query)."""
        if action == VIEW and (found := self._by_public_id.get(public_id)) is not None:
            return found
        try:
            return self.experiments(action=action).get(public_id=public_id)
        except Experiment.DoesNotExist:
            raise Http404("No such experiment") from None

    def rooms(self) -> QuerySet:
        return self._in_rooms(Room.objects.all(), "")

    def _in_rooms(self, qs: QuerySet, room: str) -> QuerySet:
        """``qs`` restricted to the rooms this user may see, ``room`` being the path from its
        model to the room (``""``: rooms themselves, ``"room__"``): the one rule of
        ``rooms``, also asked through a join instead of a subquery of rooms."""
        if not self.active:
            return qs.none()
        q = Q(**{f"{room}experiment_id__in": self._member_ids()})
        if self.own_participant is not None:
            own = RoomParticipant.objects.filter(participant=self.own_participant)
            q |= Q(**{f"{room}pk__in": own.values("room_id")})
        return qs.filter(q)

    def room(self, ref: str, *, experiment: Experiment | None = None) -> Room:
        """One room (with its experiment) by the reference this user knows it by, or a 404;
        ``experiment``: it must belong to it. A room id from someone who sees the room by
        code is a 404 like any unknown room, so the reference cannot confirm a room id."""
        rooms = self.rooms().select_related("experiment")
        found = rooms.filter(public_id=ref).first()
        if found is not None and not self.sees_room_ids(found.experiment):
            found = None
        if found is None and ref.startswith(ROOM_PREFIX):
            coded = [
                pk for pk, m in self.memberships.items() if not self.sees_room_ids(m.experiment)
            ]
            candidates = rooms.filter(experiment_id__in=coded)
            pk = find_room(candidates.values_list("pk", "public_id", "experiment__public_id"), ref)
            found = candidates.get(pk=pk) if pk is not None else None
        if found is None:
            raise Http404("No such room")
        if experiment is not None and found.experiment_id != experiment.pk:
            raise Http404("No such room in this experiment")
        return found

    def sees_room_ids(self, experiment: Experiment) -> bool:
        """Rooms appear by id to those who see identifiers and to a participant in their own
        sessions; a member below the full export right sees (and addresses) them by code."""
        if self.sees_identifiers(experiment):
            return True
        return not self.is_member(experiment) and self.own_participant is not None

    def room_ref(self, experiment: Experiment, room_public_id: str) -> str:
        """How this user names a room of ``experiment`` (its id or its code)."""
        if self.sees_room_ids(experiment):
            return room_public_id
        return room_code(experiment.public_id, room_public_id)

    def policy(self, experiment: Experiment) -> Policy:
        """The de-identification of what this user reads of ``experiment``: the same in the
        dashboard, the API and their exports (``data_browser.identity``)."""
        if self.sees_identifiers(experiment):
            return Policy.full(experiment.public_id)
        return Policy.coded(experiment.public_id, room_ids=self.sees_room_ids(experiment))

    def room_participants(self) -> QuerySet:
        """Who took part in the rooms the user may see (a participant sees their
        co-participants, whose identifiers the views replace by codes)."""
        return self._in_rooms(RoomParticipant.objects.all(), "room__")

    def ref(self, experiment: Experiment, participant_public_id: str) -> str:
        """How this user names a participant of ``experiment``: the public id if they see
        identifiers, the code of the de-identified exports otherwise."""
        if self.sees_identifiers(experiment):
            return participant_public_id
        return participant_code(experiment.public_id, participant_public_id)

    def participant(
        self, ref: str, *, room: Room | None = None, experiment: Experiment | None = None
    ) -> Person:
        """The one resolver from a participant reference to a participant, for browse, API
        and exports: a code (``anon_…``) from anyone, a public id only from users who see
        identifiers in that experiment (for everyone else it is a 404 like any unknown
        participant, so the reference cannot confirm who took part). ``room`` or
        ``experiment`` narrow the search; without them, every experiment where the reference
        names the participant is returned (a code names one experiment)."""
        rps = self.room_participants().select_related("participant", "room__experiment")
        if room is not None:
            rps = rps.filter(room=room)
        elif experiment is not None:
            rps = rps.filter(room__experiment=experiment)
        by_code = ref.startswith(CODE_PREFIX)
        if not by_code:
            rps = rps.filter(participant__public_id=ref)
        found: Person | None = None
        for rp in rps.order_by("room__started_at", "pk"):
            exp = rp.room.experiment
            pid = rp.participant.public_id
            if by_code:
                if participant_code(exp.public_id, pid) != ref:
                    continue
            elif not self.sees_identifiers(exp):
                continue
            if found is None:
                found = Person(rp.participant, [], rp)
            elif found.participant.pk != rp.participant_id:
                continue
            if exp not in found.experiments:
                found.experiments.append(exp)
        if found is None:
            raise Http404("No such participant")
        return found

    def records(self, dt: T.DataType) -> QuerySet:
        """Records of one type the user may read; a participant account reads only its own."""
        qs = dt.model.objects.all()
        if not self.active or not self.allows(dt.scope):
            return qs.none()
        # A literal list (a user has few memberships) lets PostgreSQL plan a scope's index
        # scan alone instead of a semi-join against memberships for every record.
        q = Q(experiment_id__in=list(self.memberships))
        if self.own_participant is not None:
            q |= Q(participant=self.own_participant)
        return qs.filter(q)


@dataclass
class Person:
    """A resolved participant reference: the participant, the experiments in which the
    reference names them, and the first session found (room and role)."""

    participant: Participant
    experiments: list[Experiment]
    room_participant: RoomParticipant


def for_request(request: HttpRequest) -> Access:
    """The request's access object: built on first use from the API key (``request.auth``)
    or the signed-in user, and kept on the request."""
    key = getattr(request, "auth", None)
    key = key if isinstance(key, ApiKey) else None
    found = getattr(request, "_access", None)
    if found is None or found.user is not request.user or found.key is not key:
        found = Access(request.user, key=key)
        request._access = found
    return found


def for_user(user: User, *, key: ApiKey | None = None) -> Access:
    """An access object outside a request (tasks, commands): what the user (or the key) may
    do now."""
    return Access(user, key=key)


def for_job(job: Any) -> Access:
    """What an export job may read now: its user's rights, through the key it was started
    with (a key removed since leaves it nothing)."""
    if job.started_with_key and job.api_key_id is None:
        return Access(None)
    return Access(job.user, key=job.api_key if job.api_key_id else None)


def lab_users(user: User) -> QuerySet:
    """The accounts of a lab admin's lab (nobody else's: an empty set for everyone else)."""
    from django.contrib.auth import get_user_model

    qs = get_user_model().objects.all()
    if not is_lab_admin(user):
        return qs.none()
    return qs.filter(profile__lab_id=profile(user).lab_id)


def lab_api_keys(user: User) -> QuerySet:
    """API keys a lab admin may revoke: every key of every account in their lab."""
    return ApiKey.objects.filter(user__in=lab_users(user))


def audit_entries(user: User) -> QuerySet:
    """Owners read the entries of the experiments they own; lab admins those of their lab."""
    qs = AuditEntry.objects.all()
    if not _active(user):
        return qs.none()
    owned = Membership.objects.filter(user=user, role=Membership.Role.OWNER)
    q = Q(experiment_id__in=owned.values("experiment_id"))
    if is_lab_admin(user):
        q |= Q(lab_id=profile(user).lab_id)
    return qs.filter(q)
