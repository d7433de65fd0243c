"""Rate limits for the API: per key, per client address, and harder for failed authentication.

Fixed one-minute windows counted in the Django cache (Redis in production,
the file cache in the embedded mode), so every server process shares them.
A client address that keeps presenting bad keys is turned away before any
key is looked up.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

WINDOW = 60


@dataclass
class RateLimited(Exception):
    retry_after: int
    message: str


def _window() -> tuple[int, int]:
    now = int(time.time())
    start = now - now % WINDOW
    return start, start + WINDOW - now


def _hit(bucket: str, limit: int) -> tuple[bool, int]:
    start, remaining = _window()
    name = f"api:rl:{bucket}:{start}"
    if cache.add(name, 1, WINDOW + 5):
        count = 1
    else:
        try:
            count = cache.incr(name)
        except ValueError:  # expired between add and incr
            cache.add(name, 1, WINDOW + 5)
            count = 1
    return count > limit, max(remaining, 1)


def _count(bucket: str) -> tuple[int, int]:
    start, remaining = _window()
    return int(cache.get(f"api:rl:{bucket}:{start}") or 0), max(remaining, 1)


def check_address_not_blocked(address: str) -> None:
    count, retry = _count(f"fail:{address}")
    if count >= settings.API_RATE_LIMIT_FAILED_AUTH:
        raise RateLimited(retry, "Too many failed authentications from this address; slow down.")


def note_failed_auth(address: str) -> None:
    _hit(f"fail:{address}", settings.API_RATE_LIMIT_FAILED_AUTH)


def check_request(address: str, key_id: int) -> None:
    over, retry = _hit(f"addr:{address}", settings.API_RATE_LIMIT_PER_ADDRESS)
    if over:
        raise RateLimited(retry, "Too many requests from this address; slow down.")
    over, retry = _hit(f"key:{key_id}", settings.API_RATE_LIMIT_PER_KEY)
    if over:
        raise RateLimited(retry, "Too many requests with this API key; slow down.")
