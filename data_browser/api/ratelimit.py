"""Rate limits for the API, as the API overview describes them, plus abuse guards.

The documented limits: each key has a budget per hour (``API_RATE_LIMIT_PER_KEY_HOUR``)
and per endpoint per minute (``API_RATE_LIMIT_PER_ENDPOINT``; the endpoint is the route,
e.g. ``GET /data/events/{scope}/{scopeId}``). Besides, each key and each client address
have a per-minute ceiling, and an address that keeps presenting bad keys is turned away
before any key is looked up.

Fixed windows counted in the Django cache (Redis in production, the file cache in the
embedded mode), so every server process shares them; all of a request's counters, with the
key's usage counters (counted only when the request is within its limits), cost one round
trip. The tightest of the documented limits is reported on every answer in
``X-RateLimit-Limit`` / ``-Remaining`` / ``-Reset`` (``Reset``: Unix time the window ends).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

from hyperstudy_dash import cache as counters

MINUTE = 60
HOUR = 3600
_STATE = "_hyperstudy_rate_limit"


@dataclass
class RateLimited(Exception):
    retry_after: int
    message: str
    limit: int = 0
    window: str = "minute"


@dataclass(frozen=True)
class Budget:
    """One documented limit as it stands after this request."""

    limit: int
    remaining: int
    reset: int  # Unix time the window ends


def _window(length: int, now: int) -> tuple[int, int]:
    """The window's start and the seconds left in it (at least one)."""
    start = now - now % length
    return start, max(start + length - now, 1)


def _name(bucket: str, length: int, now: int) -> str:
    start, _left = _window(length, now)
    return f"api:rl:{bucket}:{length}:{start}"


def check_address_not_blocked(address: str) -> None:
    now = int(time.time())
    count = int(cache.get(_name(f"fail:{address}", MINUTE, now)) or 0)
    if count >= settings.API_RATE_LIMIT_FAILED_AUTH:
        raise RateLimited(
            _window(MINUTE, now)[1],
            "Too many failed authentications from this address; slow down.",
            settings.API_RATE_LIMIT_FAILED_AUTH,
        )


def note_failed_auth(address: str) -> None:
    name = _name(f"fail:{address}", MINUTE, int(time.time()))
    counters.count({name: MINUTE + 5})


def endpoint_of(request: HttpRequest) -> str:
    """The route the request matched (its pattern, not its ids), e.g. ``GET data/…``."""
    match = getattr(request, "resolver_match", None)
    route = match.route if match is not None and match.route else request.path
    return f"{request.method} {route}"


def check_request(
    request: HttpRequest, address: str, key_id: int, usage: dict[str, int] | None = None
) -> dict[str, int]:
    """Count the request against every limit at once; 429 on the first one exceeded. The
    ``usage`` counters (name: lifetime) are counted in the same round trip when the request
    is within every limit, and their new counts returned.

    The state of the documented limits is kept on the request for ``add_headers``."""
    now = int(time.time())
    endpoint = endpoint_of(request)
    limits = [
        # (counter, window, limit, message, documented)
        (
            _name(f"keyh:{key_id}", HOUR, now),
            HOUR,
            settings.API_RATE_LIMIT_PER_KEY_HOUR,
            "This API key has used its requests for this hour.",
            True,
        ),
        (
            _name(
                f"ep:{key_id}:{hashlib.blake2s(endpoint.encode()).hexdigest()[:16]}", MINUTE, now
            ),
            MINUTE,
            settings.API_RATE_LIMIT_PER_ENDPOINT,
            "Too many requests to this endpoint with this API key this minute.",
            True,
        ),
        (
            _name(f"key:{key_id}", MINUTE, now),
            MINUTE,
            settings.API_RATE_LIMIT_PER_KEY,
            "Too many requests with this API key; slow down.",
            False,
        ),
        (
            _name(f"addr:{address}", MINUTE, now),
            MINUTE,
            settings.API_RATE_LIMIT_PER_ADDRESS,
            "Too many requests from this address; slow down.",
            False,
        ),
    ]
    counts = counters.count_within(
        {name: (length + 5, limit) for name, length, limit, *_rest in limits}, usage or {}
    )
    budgets = []
    for name, length, limit, _message, documented in limits:
        if documented:
            budgets.append(
                Budget(limit, max(limit - counts[name], 0), _window(length, now)[0] + length)
            )
    setattr(request, _STATE, min(budgets, key=lambda b: (b.remaining, -b.reset)))
    for name, length, limit, message, _documented in limits:
        if counts[name] > limit:
            window = "hour" if length == HOUR else "minute"
            raise RateLimited(_window(length, now)[1], message, limit, window)
    return {name: counts[name] for name in usage or {}}


def add_headers(request: HttpRequest, response: HttpResponse) -> None:
    """``X-RateLimit-*`` of the request's tightest documented limit; before a key is known
    (401s, blocked addresses) the per-key hourly limit, untouched."""
    budget: Budget | None = getattr(request, _STATE, None)
    if budget is None:
        now = int(time.time())
        limit = settings.API_RATE_LIMIT_PER_KEY_HOUR
        budget = Budget(limit, limit, _window(HOUR, now)[0] + HOUR)
    response["X-RateLimit-Limit"] = str(budget.limit)
    response["X-RateLimit-Remaining"] = str(budget.remaining)
    response["X-RateLimit-Reset"] = str(budget.reset)
