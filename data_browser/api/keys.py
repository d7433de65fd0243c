"""API keys: how they are made, stored, checked, listed and revoked.

A key is ``hst_live_`` followed by 64 random letters and digits (keys made before
were 40 long and keep working). Only its first 8 random characters (the lookup
prefix), its last four and an HMAC of the whole key under a server secret are
stored, so a copy of the database yields no usable key; the check compares
hashes in constant time. The API Keys page shows a key masked, as
``hst_live_a3f2b4...******``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Greatest
from django.http import Http404, HttpRequest
from django.utils import timezone

from data_browser import access, audit
from data_browser import datatypes as T
from data_browser.models import ApiKey, Experiment, ExportRight

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

KEY_PREFIX = "hst_live_"
_ALPHABET = string.ascii_letters + string.digits
_LOOKUP_LEN = 8
_SECRET_LEN = 56
KEY_LENGTH = len(KEY_PREFIX) + _LOOKUP_LEN + _SECRET_LEN
_EARLIER_LENGTH = len(KEY_PREFIX) + 40  # keys made before the 64-character form
# The expiry choices of the API-keys page, in days (None: never).
EXPIRY_CHOICES = {"7d": 7, "30d": 30, "90d": 90, "1y": 365, "never": None}
DEFAULT_EXPIRY = "90d"
LAST_USED_RESOLUTION = timedelta(minutes=1)


class InvalidKeyRequest(ValueError):
    """A key cannot be made as asked (unknown scope, bad expiry, foreign experiment)."""


def _secret() -> bytes:
    configured = settings.API_KEY_SECRET or settings.SECRET_KEY
    return hashlib.sha256(b"hyperstudy.api-key:" + configured.encode()).digest()


def key_hash(raw: str) -> str:
    return hmac.new(_secret(), raw.encode(), hashlib.sha256).hexdigest()


def _random(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def lookup_prefix(raw: str) -> str | None:
    """The stored prefix of a well-formed key, or None for anything else."""
    if len(raw) not in (KEY_LENGTH, _EARLIER_LENGTH) or not raw.startswith(KEY_PREFIX):
        return None
    body = raw[len(KEY_PREFIX) :]
    if not all(c in _ALPHABET for c in body):
        return None
    return raw[: len(KEY_PREFIX) + _LOOKUP_LEN]


def check_scopes(scopes: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(scopes))
    unknown = [s for s in chosen if s not in T.KEY_SCOPES]
    if unknown:
        raise InvalidKeyRequest(
            f"unknown scope {', '.join(unknown)}; choose from {', '.join(T.KEY_SCOPES)}"
        )
    if not chosen:
        raise InvalidKeyRequest("choose at least one scope")
    return chosen


def may_have_keys(user: AbstractBaseUser) -> bool:
    """Researchers and lab admins may; a participant account (with no membership) may not."""
    if access.participant_of(user) is None:
        return True
    return access.is_lab_admin(user) or bool(access.for_user(user).memberships)


def create_key(
    user: AbstractBaseUser,
    *,
    name: str,
    scopes: Iterable[str],
    expires_at: datetime | None = None,
    experiments: Iterable[Experiment] = (),
    description: str = "",
    request: HttpRequest | None = None,
) -> tuple[ApiKey, str]:
    """Make a key for ``user``; the raw key is returned here and never again."""
    chosen = check_scopes(scopes)
    if not may_have_keys(user):
        raise InvalidKeyRequest("participant accounts cannot have API keys")
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidKeyRequest("the expiry must be in the future")
    restricted = list(experiments)
    allowed = set(access.for_user(user).memberships)
    if any(e.pk not in allowed for e in restricted):
        raise InvalidKeyRequest("a key can only be restricted to experiments you are a member of")
    while True:
        raw = KEY_PREFIX + _random(_LOOKUP_LEN + _SECRET_LEN)
        prefix = lookup_prefix(raw)
        if not ApiKey.objects.filter(prefix=prefix).exists():
            break
    key = ApiKey.objects.create(
        user=user,
        name=name.strip() or "API key",
        description=description.strip(),
        prefix=prefix,
        last_four=raw[-4:],
        key_hash=key_hash(raw),
        scopes=chosen,
        expires_at=expires_at,
    )
    if restricted:
        key.experiments.set(restricted)
    _audit(
        "api_key.created",
        key,
        user,
        request,
        {
            "key": key.prefix,
            "name": key.name,
            "scopes": chosen,
            "expires_at": T.iso(expires_at),
            "experiments": [e.public_id for e in restricted] or "any of the owner's",
        },
    )
    return key, raw


def _audit(
    action: str, key: ApiKey, actor: AbstractBaseUser, request: HttpRequest | None, details: dict
) -> None:
    """An entry about a key, in its owner's lab, with the key named by its masked ends."""
    profile = access.profile(key.user)
    audit.record(
        action,
        actor=actor,
        request=request,
        lab=profile.lab if profile else None,
        scope=f"key {key.prefix}…{key.last_four}",
        details=details,
    )


def authenticate(raw: str | None) -> ApiKey | None:
    """The active key ``raw`` names, or None: unknown, malformed, wrong, expired and revoked
    keys are all simply None so that callers cannot tell them apart. One query: the key with
    its owner, by its unique prefix (``get`` leaves out the ORDER BY ``first()`` compiled)."""
    prefix = lookup_prefix(raw or "")
    candidate = None
    if prefix:
        found = ApiKey.objects.select_related("user")
        with contextlib.suppress(ApiKey.DoesNotExist):
            candidate = found.get(prefix=prefix)
    expected = candidate.key_hash if candidate is not None else key_hash("")
    matches = hmac.compare_digest(expected, key_hash(raw or ""))
    if candidate is None or not matches or not candidate.is_active:
        return None
    if not candidate.user.is_active:
        return None
    return candidate


def mark_used(key: ApiKey, address: str | None = None, requests: int | None = None) -> None:
    """Write ``last_used_at``, the last address and the request count (counted in the cache
    on every request) at most once a minute, whatever the request rate."""
    now = timezone.now()
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_RESOLUTION:
        return
    fields: dict = {"last_used_at": now, "last_ip": _address(address)}
    if requests is not None:
        fields["request_count"] = Greatest(F("request_count"), requests)
    ApiKey.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION), pk=key.pk
    ).update(**fields)
    key.last_used_at = now


def _address(address: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        return None


def masked(key: ApiKey) -> str:
    """How the table shows a key: the prefix and the first random characters."""
    return key.masked


def expiry(choice: str, now: datetime | None = None) -> datetime | None:
    """The expiry of an ``EXPIRY_CHOICES`` choice, counted from now."""
    if choice not in EXPIRY_CHOICES:
        raise InvalidKeyRequest(f"expiry must be one of {', '.join(EXPIRY_CHOICES)}")
    days = EXPIRY_CHOICES[choice]
    return None if days is None else (now or timezone.now()) + timedelta(days=days)


def update_key(
    key: ApiKey,
    by: AbstractBaseUser,
    *,
    name: str,
    description: str,
    scopes: Iterable[str],
    request: HttpRequest | None = None,
) -> ApiKey:
    """Change what the key page lets change: name, description, scopes (never the key or
    its expiry). A revoked key stays as it is."""
    if key.revoked_at is not None:
        raise InvalidKeyRequest("a revoked key cannot be changed")
    chosen = check_scopes(scopes)
    before = {"name": key.name, "description": key.description, "scopes": list(key.scopes)}
    key.name = name.strip() or key.name
    key.description = description.strip()
    key.scopes = chosen
    key.save(update_fields=["name", "description", "scopes"])
    _audit(
        "api_key.updated",
        key,
        by,
        request,
        {
            "key": key.prefix,
            "before": before,
            "after": {"name": key.name, "description": key.description, "scopes": chosen},
        },
    )
    return key


def visible_keys(user: AbstractBaseUser) -> QuerySet:
    """A user's own keys; a lab admin also sees every key of the lab's users."""
    keys = ApiKey.objects.filter(user=user) | access.lab_api_keys(user)
    return keys.select_related("user").prefetch_related("experiments")


# What a key's reads return in an experiment, by its owner's export right there.
READS = {
    ExportRight.NONE: "no data (view-only right)",
    ExportRight.AGGREGATE: "aggregate exports only",
    ExportRight.DEIDENTIFIED: "records, de-identified",
    ExportRight.FULL: "records with identifiers",
}


@dataclass
class KeyReach:
    experiment: Experiment
    right: str  # the owner's export right there

    @property
    def reads(self) -> str:
        return READS[self.right]


def reach(key: ApiKey) -> list[KeyReach]:
    """The experiments a key can read now and what it gets there: its restriction ∩ its
    owner's memberships, nothing once it is revoked or expired."""
    reader = access.for_user(key.user, key=key)
    found = [KeyReach(m.experiment, m.effective_export_right) for m in reader.memberships.values()]
    return sorted(found, key=lambda r: r.experiment.public_id)


def get_key(user: AbstractBaseUser, pk: int) -> ApiKey:
    try:
        return visible_keys(user).get(pk=pk)
    except ApiKey.DoesNotExist:
        raise Http404("No such API key") from None


def revoke_key(key: ApiKey, by: AbstractBaseUser, request: HttpRequest | None = None) -> bool:
    """Revoke at once (the key's owner, or a lab admin of the owner's lab: callers check who
    may); False when it already was. The row is locked, so two revocations write one entry."""
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update().select_related("user").get(pk=key.pk)
        if locked.revoked_at is not None:
            return False
        locked.revoked_at = key.revoked_at = timezone.now()
        locked.revoked_by = key.revoked_by = by
        locked.save(update_fields=["revoked_at", "revoked_by"])
        _audit(
            "api_key.revoked",
            locked,
            by,
            request,
            {
                "key": locked.prefix,
                "name": locked.name,
                "owner": locked.user.get_username(),
                "by": "owner" if by.pk == locked.user_id else "lab admin",
            },
        )
    return True


def status(key: ApiKey) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= timezone.now():
        return "expired"
    return "active"
