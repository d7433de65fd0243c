"""Sign-in throttling through django-axes: per account and per address, a lock that grows.

After ``SIGNIN_FAILURE_LIMIT`` failed sign-ins for one username (from any address) or from
one address (for any username) within the cool-off, further attempts are refused until it
has passed. The first lock lasts ``SIGNIN_LOCKOUT_MINUTES``; each further lock of the same
account or address within a day lasts twice as long, up to ``SIGNIN_LOCKOUT_MAX_MINUTES``.
Every failure and every lock is an audit entry of the account's lab. The locked person is
told on the sign-in form what happened and when to retry; a lab admin can unlock their
lab's accounts (``unlock``), and choosing a new password through an emailed link unlocks
too.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from axes.utils import reset
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.db.models import Max, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from data_browser import audit
from data_browser.models import AuditEntry, Profile

LOCKED = "auth.locked_out"
_COOL_OFF = "_signin_cool_off"


def _username(request: HttpRequest | None, credentials: dict | None = None) -> str:
    if request is None:
        return ""
    return (get_client_username(request, credentials) or "")[:150]


def _address(request: HttpRequest) -> str | None:
    return getattr(request, "axes_ip_address", None) or audit.client_ip(request)


def _cool_off(request: HttpRequest, pending_locks: int = 0) -> timedelta:
    base = timedelta(minutes=settings.SIGNIN_LOCKOUT_MINUTES)
    who = Q(ip_address=_address(request))
    if username := _username(request):
        who |= Q(scope=f"account {username}")
    locks = pending_locks + (
        AuditEntry.objects.filter(action=LOCKED, created_at__gte=timezone.now() - timedelta(1))
        .filter(who)
        .count()
    )
    longest = timedelta(minutes=settings.SIGNIN_LOCKOUT_MAX_MINUTES)
    return min(base * 2 ** max(0, locks - 1), longest)


def cool_off(request: HttpRequest | None) -> timedelta:
    """``SIGNIN_LOCKOUT_MINUTES``, doubled for every earlier lock of the account or address in
    the last day (``AXES_COOLOFF_TIME``; kept on the request, which asks several times)."""
    if request is None:
        return timedelta(minutes=settings.SIGNIN_LOCKOUT_MINUTES)
    if (known := getattr(request, _COOL_OFF, None)) is None:
        known = _cool_off(request)
        setattr(request, _COOL_OFF, known)
    return known


def _lab(username: str) -> Any:
    """The lab of the account (deactivated ones too), whose admins see its failed sign-ins."""
    profile = Profile.objects.filter(user__username=username).select_related("lab").first()
    return profile.lab if profile is not None else None


def locked_until(request: HttpRequest, username: str, *, locking: bool = False) -> Any:
    """When the lock on ``username`` or the request's address ends (``locking``: the lock
    this request starts is not in the audit log yet)."""
    latest = AccessAttempt.objects.filter(
        Q(username=username) | Q(ip_address=_address(request))
    ).aggregate(last=Max("attempt_time"))["last"]
    return (latest or timezone.now()) + _cool_off(request, pending_locks=int(locking))


class SignInThrottle(AxesStandaloneBackend):
    """Axes' check before the password is looked at. An ``authenticate`` without a request is
    not a sign-in form (code of our own, the test client's ``login``) and is not throttled."""

    def authenticate(self, request: HttpRequest | None, *args: Any, **kwargs: Any) -> None:
        if request is None:
            return None
        return super().authenticate(request, *args, **kwargs)


class AuditedHandler(AxesDatabaseHandler):
    """Axes' database handler, writing each failure and each new lock to the audit log."""

    def user_login_failed(
        self, sender: Any, credentials: dict, request: HttpRequest | None = None, **kwargs: Any
    ) -> None:
        refused = bool(getattr(request, "axes_locked_out", False))  # already locked
        super().user_login_failed(sender, credentials, request, **kwargs)
        if request is None:
            return
        username = _username(request, credentials)
        lab = _lab(username)
        scope = f"account {username}"
        if request.axes_locked_out and not refused:
            until = locked_until(request, username, locking=True)
            audit.record(
                LOCKED,
                request=request,
                lab=lab,
                scope=scope,
                details={
                    "username": username,
                    "failures": getattr(request, "axes_failures_since_start", None),
                    "until": until.isoformat(),
                },
            )
        audit.record(
            "auth.login_failed",
            request=request,
            lab=lab,
            scope=scope,
            details={"username": username, "refused_while_locked": refused},
        )


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    """The sign-in form again (429), saying that sign-in is locked and until when."""
    username = _username(request, credentials)
    until = locked_until(request, username)
    minutes = max(1, round((until - timezone.now()).total_seconds() / 60))
    message = (
        "Too many failed sign-ins for this account or from this address, so sign-in is "
        f"locked until {until:%H:%M} UTC (in about {minutes} minutes). Try again then, or ask "
        "your lab admin to unlock your account or send you a link to choose a new password."
    )
    form = AuthenticationForm(request, initial={"username": username})
    context = {"form": form, "lockout": message, "next": request.POST.get("next", "")}
    return render(request, "registration/login.html", context, status=429)


def failed_sign_ins(usernames: list[str]) -> dict[str, int]:
    """Failed sign-ins on record (within the cool-off) per username."""
    rows = (
        AccessAttempt.objects.filter(username__in=usernames)
        .values_list("username")
        .annotate(failures=Sum("failures_since_start"))
    )
    return dict(rows)


def unlock(username: str) -> int:
    """Forget the failed sign-ins of ``username`` (a lock from an address stays)."""
    return reset(username=username)
