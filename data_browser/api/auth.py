"""The ``X-API-Key`` header: rate limits, key check, last-used stamp and daily usage audit.

API access is audited once per key and day rather than per request (the
audit log is append-only and hash-chained, so it must not grow with traffic):
requests are counted in the cache, and the first request of a day writes one
``api.access`` entry that also carries the request count of the key's
previous active day.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone
from ninja.security import APIKeyHeader

from data_browser import access, audit
from data_browser.models import ApiKey

from . import keys, ratelimit

USAGE_TTL = int(timedelta(days=40).total_seconds())
TOTAL_TTL = int(timedelta(days=400).total_seconds())


def client_address(request: HttpRequest) -> str:
    return audit.client_ip(request) or "unknown"


def total_counter(key: ApiKey) -> str:
    return f"api:reqs:{key.pk}"


def day_counter(key: ApiKey, day: str) -> str:
    return f"api:use:{key.pk}:{day}"


def usage_counters(key: ApiKey, day: str) -> dict[str, int]:
    """The key's counters of today's and all requests (name: lifetime)."""
    return {day_counter(key, day): USAGE_TTL, total_counter(key): TOTAL_TTL}


def note_use(key: ApiKey, request: HttpRequest, day: str, counts: dict[str, int]) -> int:
    """After the request is counted (``counts``: the new values of ``usage_counters``),
    audit the key's first request of the day; returns the key's request count."""
    total = max(counts[total_counter(key)], key.request_count + 1)
    if counts[day_counter(key, day)] > 1:
        return total
    last_day = cache.get(f"api:lastday:{key.pk}")
    previous = None
    if last_day and last_day != day:
        previous = {"day": last_day, "requests": cache.get(day_counter(key, last_day))}
    cache.set(f"api:lastday:{key.pk}", day, USAGE_TTL)
    profile = access.profile(key.user)
    audit.record(
        "api.access",
        actor=key.user,
        request=request,
        lab=profile.lab if profile else None,
        scope=f"key {key.prefix}…{key.last_four}",
        details={"key": key.prefix, "day": day, "previous_day": previous},
    )
    return total


def usage_today(key: ApiKey) -> int:
    return int(cache.get(day_counter(key, timezone.now().date().isoformat())) or 0)


def request_count(key: ApiKey) -> int:
    """Every request the key made: the cache's live count, or the stored one (written at
    most once a minute) if the cache has lost its count."""
    return max(int(cache.get(total_counter(key)) or 0), key.request_count)


class ApiKeyAuth(APIKeyHeader):
    """Authenticates ``X-API-Key``; ``request.auth`` is the ApiKey, ``request.user`` its owner."""

    param_name = "X-API-Key"

    def authenticate(self, request: HttpRequest, key: str | None) -> ApiKey | None:
        address = client_address(request)
        ratelimit.check_address_not_blocked(address)
        api_key = keys.authenticate(key)
        if api_key is None:
            ratelimit.note_failed_auth(address)
            return None
        day = timezone.now().date().isoformat()
        counts = ratelimit.check_request(request, address, api_key.pk, usage_counters(api_key, day))
        request.user = api_key.user
        requests = note_use(api_key, request, day, counts)
        keys.mark_used(api_key, audit.client_ip(request), requests)
        return api_key
