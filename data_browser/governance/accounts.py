"""Lab accounts and keys, managed by the lab's admins: invitations and password-reset
links (always sent to the person's own address), deactivation, and revoking API keys.

A lab admin never sees or chooses a password: an invited account starts with an unusable
password, and the link that sets one (Django's password-reset token, valid for
``PASSWORD_RESET_TIMEOUT`` and used once) goes by email to the account's owner, never to
the admin's screen. Every step is an audit entry of the lab.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from data_browser import access, audit
from data_browser.api import keys
from data_browser.models import ApiKey, Profile

from . import signin
from .rules import GovernanceError


def _lab_admin_lab(actor: Any) -> Any:
    if not access.is_lab_admin(actor):
        raise PermissionDenied("Only lab admins manage the lab's accounts and keys.")
    return access.profile(actor).lab


def _send_link(user: Any, *, request: HttpRequest, kind: str) -> None:
    """Mail ``user`` a one-time link to set their password (``kind``: invite or reset)."""
    path = reverse(
        "data_browser:set_password",
        args=[
            urlsafe_base64_encode(force_bytes(user.pk)),
            default_token_generator.make_token(user),
        ],
    )
    profile = access.profile(user)
    context = {
        "user": user,
        "lab": profile.lab if profile is not None else None,
        "link": request.build_absolute_uri(path),
    }
    PasswordResetForm().send_mail(
        f"governance/email/{kind}_subject.txt",
        f"governance/email/{kind}_body.txt",
        context,
        None,
        user.email,
    )


def invite_user(actor: Any, *, username: str, email: str, request: HttpRequest) -> Any:
    """A new account of the actor's lab, without a password, and the invitation mailed."""
    lab = _lab_admin_lab(actor)
    User = get_user_model()
    username = (username or "").strip()
    if not username:
        raise GovernanceError("Enter a username.")
    if not email:
        raise GovernanceError("Enter their email address: the invitation is sent there.")
    if User.objects.filter(username__iexact=username).exists():
        raise GovernanceError(f"The username “{username}” is taken.")
    with transaction.atomic():
        user = User.objects.create_user(username, email=email, password=None)
        Profile.objects.update_or_create(user=user, defaults={"lab": lab})
        audit.record(
            "user.created",
            actor=actor,
            request=request,
            lab=lab,
            scope=f"account {username}",
            details={"username": username, "invitation": "sent to their email address"},
        )
    _send_link(user, request=request, kind="invite")
    return user


def send_password_reset(actor: Any, user: Any, *, request: HttpRequest) -> None:
    """Mail one of the lab's accounts a link to choose a new password."""
    lab = _lab_admin_lab(actor)
    if not access.lab_users(actor).filter(pk=user.pk).exists():
        raise PermissionDenied("That account is not in your lab.")
    if not user.is_active:
        raise GovernanceError(f"“{user.get_username()}” is deactivated; reactivate it first.")
    if not user.email:
        raise GovernanceError(
            f"“{user.get_username()}” has no email address, so no link can be sent."
        )
    _send_link(user, request=request, kind="reset")
    audit.record(
        "user.password_reset_sent",
        actor=actor,
        request=request,
        lab=lab,
        scope=f"account {user.get_username()}",
    )


def unlock_sign_in(actor: Any, user: Any, *, request: HttpRequest) -> None:
    """Lift the lock that failed sign-ins put on one of the lab's accounts."""
    lab = _lab_admin_lab(actor)
    if not access.lab_users(actor).filter(pk=user.pk).exists():
        raise PermissionDenied("That account is not in your lab.")
    removed = signin.unlock(user.get_username())
    if not removed:
        raise GovernanceError(f"“{user.get_username()}” has no failed sign-ins to forget.")
    audit.record(
        "user.sign_in_unlocked",
        actor=actor,
        request=request,
        lab=lab,
        scope=f"account {user.get_username()}",
    )


def password_set(user: Any, *, request: HttpRequest) -> None:
    """The person chose a password through their link: audited as their own change, and a
    sign-in lock on their account is lifted."""
    signin.unlock(user.get_username())
    profile = access.profile(user)
    audit.record(
        "user.password_changed",
        actor=user,
        request=request,
        lab=profile.lab if profile is not None else None,
        scope=f"account {user.get_username()}",
        details={"via": "emailed link"},
    )


def set_user_active(
    actor: Any, user: Any, *, active: bool, request: HttpRequest | None = None
) -> None:
    lab = _lab_admin_lab(actor)
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
            lab=lab,
            scope=f"account {user.get_username()}",
        )


def revoke_key(actor: Any, key: ApiKey, *, request: HttpRequest | None = None) -> None:
    """A lab admin's revocation of any key in the lab (owners revoke their own on the key
    page); the revocation itself is the key manager's (``api.keys.revoke_key``)."""
    _lab_admin_lab(actor)
    if not access.lab_api_keys(actor).filter(pk=key.pk).exists():
        raise PermissionDenied("That key does not belong to your lab.")
    if not keys.revoke_key(key, actor, request=request):
        raise GovernanceError(f"The key “{key.name}” is already revoked.")
