"""Who has access to an experiment, with which role and export right, and its owners.

Views and the management commands call these, so the rules (who may change what, an
experiment keeps an owner, nobody raises their own rights) hold whichever door is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from data_browser import access, audit
from data_browser.models import ApiKey, Experiment, ExportRight, Membership
from data_browser.signals import running_work

from .rules import GovernanceError, check_choice, lock

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


ROLE_RANK = {Membership.Role.COLLABORATOR: 0, Membership.Role.OWNER: 1}


def _rank(role: str, export_right: str) -> tuple[int, int]:
    return ROLE_RANK[role], ExportRight.rank(export_right)


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
    check_choice(role, Membership.Role, "role")
    check_choice(export_right, ExportRight, "export right")
    user = find_user(identifier)
    if role == Membership.Role.OWNER:
        export_right = ExportRight.FULL
    with transaction.atomic():
        lock(experiment)
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


LAST_OWNER = "An experiment must keep at least one owner: make someone else owner first."


def removal_refused(membership: Membership) -> str | None:
    """Why this membership may not be removed (the experiment's last owner), or None."""
    if membership.role == Membership.Role.OWNER and not _owners_left(
        membership.experiment, membership
    ):
        return LAST_OWNER
    return None


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
    role = check_choice(role or membership.role, Membership.Role, "role")
    export_right = check_choice(export_right or membership.export_right, ExportRight, "right")
    if role == Membership.Role.OWNER:
        export_right = ExportRight.FULL
    is_self = membership.user_id == getattr(actor, "pk", None)
    raises = _rank(role, export_right) > _rank(membership.role, membership.export_right)
    if is_self and raises and not access.is_lab_admin(actor):
        raise PermissionDenied("Nobody can raise their own rights.")
    with transaction.atomic():
        lock(experiment)
        m = Membership.objects.select_related("user").get(pk=membership.pk)
        before = _describe(m)
        if m.role == Membership.Role.OWNER and role != m.role and not _owners_left(experiment, m):
            raise GovernanceError(LAST_OWNER)
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


def removal_counts(membership: Membership) -> dict[str, int]:
    """What removing a membership reaches: the member's unrevoked keys that read the
    experiment (unrestricted or restricted to it) and their exports of it still running."""
    experiment = membership.experiment
    keys = ApiKey.objects.filter(user=membership.user_id, revoked_at__isnull=True).filter(
        Q(experiments__isnull=True) | Q(experiments=experiment)
    )
    keys = keys.exclude(expires_at__lte=timezone.now())
    exports = running_work(user=membership.user, experiment=experiment)
    return {"keys": keys.distinct().count(), "exports": exports}


def remove_member(
    actor: Any, membership: Membership, *, request: HttpRequest | None = None
) -> None:
    experiment = membership.experiment
    _require_manage(actor, experiment)
    with transaction.atomic():
        lock(experiment)
        m = Membership.objects.select_related("user").filter(pk=membership.pk).first()
        if m is None:
            raise GovernanceError("This membership was already removed.")
        if refused := removal_refused(m):
            raise GovernanceError(refused)
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
        lock(experiment)
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
