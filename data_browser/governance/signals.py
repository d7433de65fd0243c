"""Sign-ins go to the audit log, attributed to the account's lab so its admins see them."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest

from data_browser import access, audit


@receiver(user_logged_in, dispatch_uid="governance.audit_sign_in")
def audit_sign_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    profile = access.profile(user)
    audit.record(
        "auth.login",
        actor=user,
        request=request,
        lab=profile.lab if profile is not None else None,
        scope=f"account {user.get_username()}",
    )
