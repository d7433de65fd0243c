"""Who may see and do what: the one place that scopes data to a user (or an API key).

Every view, task and API endpoint starts its queries here; none filters by
user by hand. Objects outside a user's scope are reported as missing (404).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Q, QuerySet, TextChoices
from django.db.models.signals import m2m_changed
from django.dispatch import receiver
from django.http import Http404

from . import datatypes as T
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


def key_experiment_ids(key: ApiKey) -> list[int]:
    """The experiments a key is restricted to (empty: not restricted), read once per key
    object: a request checks them several times. A key read with the annotation
    ``restricted`` (``api.keys.authenticate``) needs no query when it is False. Changing them
    through the key forgets both (``forget_key_restriction``)."""
    ids = key.__dict__.get("_restricted_to")
    if ids is None:
        if key.pk is None or key.__dict__.get("restricted") is False:
            ids = []
        else:
            ids = list(key.experiments.values_list("pk", flat=True))
        key.__dict__["_restricted_to"] = ids
    return ids


@receiver(m2m_changed, sender=ApiKey.experiments.through)
def forget_key_restriction(sender: type, instance: object, **kwargs: object) -> None:
    if isinstance(instance, ApiKey):
        instance.__dict__.pop("_restricted_to", None)
        instance.__dict__.pop("restricted", None)


def _memberships(user: User, key: ApiKey | None = None) -> QuerySet:
    memberships = Membership.objects.filter(user=user)
    if key is not None and (restricted := key_experiment_ids(key)):
        memberships = memberships.filter(experiment_id__in=restricted)
    return memberships


def _member_experiment_ids(user: User, key: ApiKey | None = None) -> QuerySet:
    return _memberships(user, key).values_list("experiment_id", flat=True)


def _member_ids(user: User, key: ApiKey | None, reach: Reach | None) -> QuerySet | list[int]:
    """The experiments the user is a member of: from the reach when there is one (a literal
    list), otherwise as a subquery."""
    if reach is None:
        return _member_experiment_ids(user, key)
    return list(reach.check(user, key).rights)


class Reach:
    """A user's memberships (within an API key's restriction), read in one query, for a
    request that asks about them several times: which experiments, and the export right in
    each. The experiments come with them, so looking up one of them costs no query either. It
    is a snapshot: build it per request."""

    def __init__(self, user: User, *, key: ApiKey | None = None) -> None:
        self.user = user
        self.key = key
        memberships = (
            _memberships(user, key)
            .select_related("experiment")
            .only("role", "export_right", "experiment")
            if _active(user)
            else []
        )
        self.rights = {m.experiment_id: m.effective_export_right for m in memberships}
        self.experiments = {m.experiment.public_id: m.experiment for m in memberships}

    def check(self, user: User, key: ApiKey | None = None) -> Reach:
        if self.user is not user or self.key is not key:
            raise ValueError("the reach was read for another user or key")
        return self

    def is_member(self, experiment: Experiment) -> bool:
        return experiment.pk in self.rights

    def export_right(self, experiment: Experiment) -> str:
        """As ``export_right``."""
        return self.rights.get(experiment.pk, ExportRight.NONE)

    def sees_identifiers(self, experiment: Experiment) -> bool:
        """As ``sees_identifiers``."""
        return self.export_right(experiment) == ExportRight.FULL


def experiments(
    user: User, *, key: ApiKey | None = None, action: str = VIEW, reach: Reach | None = None
) -> QuerySet:
    """Experiments the user may browse (VIEW), manage access of (MANAGE), or see listed (LIST).
    ``reach`` (VIEW only) saves reading the memberships again."""
    qs = Experiment.objects.all()
    if not _active(user):
        return qs.none()
    if action == MANAGE:
        p = profile(user)
        q = Q(memberships__user=user, memberships__role=Membership.Role.OWNER)
        if p is not None and p.is_lab_admin and p.lab_id:
            q |= Q(lab_id=p.lab_id)
        return qs.filter(q).distinct()
    if action == LIST and is_lab_admin(user):
        return qs.filter(Q(lab_id=profile(user).lab_id) | Q(pk__in=_member_experiment_ids(user)))
    q = Q(pk__in=_member_ids(user, key, reach))
    participant = participant_of(user) if key is None else None  # keys act through memberships
    if participant is not None:
        q |= Q(rooms__room_participants__participant=participant)
    return qs.filter(q).distinct()


def rooms(user: User, *, key: ApiKey | None = None, reach: Reach | None = None) -> QuerySet:
    qs = Room.objects.all()
    if not _active(user):
        return qs.none()
    q = Q(experiment_id__in=_member_ids(user, key, reach))
    participant = participant_of(user) if key is None else None
    if participant is not None:
        q |= Q(pk__in=RoomParticipant.objects.filter(participant=participant).values("room_id"))
    return qs.filter(q)


def room_participants(user: User, *, key: ApiKey | None = None) -> QuerySet:
    """Who took part in the rooms the user may see (a participant sees their co-participants,
    whose identifiers the views replace by codes)."""
    return RoomParticipant.objects.filter(room__in=rooms(user, key=key))


def records(
    user: User, dt: T.DataType, *, key: ApiKey | None = None, reach: Reach | None = None
) -> QuerySet:
    """Records of one type the user may read. A participant reads only their own. ``reach``
    saves reading the memberships again (it must be the same user's and key's)."""
    qs = dt.model.objects.all()
    if not _active(user):
        return qs.none()
    if key is not None and not key_allows(key, dt.scope):
        return qs.none()
    # Resolved now (a user has few memberships): a literal list lets PostgreSQL plan the
    # scope's index scan alone instead of a semi-join against memberships for every record.
    q = Q(experiment_id__in=list(_member_ids(user, key, reach)))
    participant = participant_of(user) if key is None else None
    if participant is not None:
        q |= Q(participant=participant)
    return qs.filter(q)


def membership(user: User, experiment: Experiment) -> Membership | None:
    if not _active(user):
        return None
    return Membership.objects.filter(user=user, experiment=experiment).first()


def export_right(user: User, experiment: Experiment) -> str:
    m = membership(user, experiment)
    return m.effective_export_right if m is not None else ExportRight.NONE


def allowed_anonymizations(
    user: User, experiment: Experiment, *, reach: Reach | None = None
) -> list[str]:
    right = (
        reach.check(user).export_right(experiment)
        if reach is not None
        else export_right(user, experiment)
    )
    rank = ExportRight.rank(right)
    return [mode for mode, needed in REQUIRED_RIGHT.items() if ExportRight.rank(needed) <= rank]


def can_export(user: User, experiment: Experiment, anonymization: str) -> bool:
    return anonymization in allowed_anonymizations(user, experiment)


def sees_identifiers(user: User, experiment: Experiment) -> bool:
    """Only owners and collaborators with the full export right see participant identifiers;
    everyone else sees the codes the de-identified exports use."""
    return export_right(user, experiment) == ExportRight.FULL


def can_delete(user: User, experiment: Experiment) -> bool:
    m = membership(user, experiment)
    return m is not None and m.role == Membership.Role.OWNER


def can_manage_access(user: User, experiment: Experiment) -> bool:
    return experiments(user, action=MANAGE).filter(pk=experiment.pk).exists()


def key_allows(key: ApiKey, scope: str) -> bool:
    return key.is_active and scope in (key.scopes or [])


def get_experiment(
    user: User,
    public_id: str,
    *,
    key: ApiKey | None = None,
    action: str = VIEW,
    reach: Reach | None = None,
) -> Experiment:
    if action == VIEW and reach is not None:
        member_of = reach.check(user, key).experiments.get(public_id)
        if member_of is not None:  # members may view; anyone else is looked up below
            return member_of
    try:
        return experiments(user, key=key, action=action, reach=reach).get(public_id=public_id)
    except Experiment.DoesNotExist:
        raise Http404("No such experiment") from None


def get_room(
    user: User, public_id: str, *, key: ApiKey | None = None, reach: Reach | None = None
) -> Room:
    try:
        rooms_seen = rooms(user, key=key, reach=reach)
        return rooms_seen.select_related("experiment").get(public_id=public_id)
    except Room.DoesNotExist:
        raise Http404("No such room") from None


def get_room_participant(
    user: User, room: Room, participant_public_id: str, *, key: ApiKey | None = None
) -> RoomParticipant:
    try:
        return (
            room_participants(user, key=key)
            .select_related("participant", "room__experiment")
            .get(room=room, participant__public_id=participant_public_id)
        )
    except RoomParticipant.DoesNotExist:
        raise Http404("No such participant") from None


def get_participant(user: User, public_id: str, *, key: ApiKey | None = None) -> Participant:
    """A participant the user may read records of (API participant scope)."""
    visible = room_participants(user, key=key).filter(participant__public_id=public_id)
    own = participant_of(user)
    if own is not None and own.public_id != public_id and key is None:
        raise Http404("No such participant")
    try:
        return Participant.objects.get(public_id=public_id, room_participants__in=visible[:1])
    except Participant.DoesNotExist:
        raise Http404("No such participant") from None


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
