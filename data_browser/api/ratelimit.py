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

from hyperstudy_dash import cache as counters

WINDOW = 60


@dataclass
class RateLimited(Exception):
    retry_after: int
    message: str


def _window() -> tuple[int, int]:
    now = int(time.time())
    start = now - now % WINDOW
    return start, start + WINDOW - now


def _name(bucket: str) -> tuple[str, int]:
    """The counter of the bucket's current window, and the seconds left in that window."""
    start, remaining = _window()
    return f"api:rl:{bucket}:{start}", max(remaining, 1)


def _count(bucket: str) -> tuple[int, int]:
    name, retry = _name(bucket)
    return int(cache.get(name) or 0), retry


def check_address_not_blocked(address: str) -> None:
    count, retry = _count(f"fail:{address}")
    if count >= settings.API_RATE_LIMIT_FAILED_AUTH:
        raise RateLimited(retry, "Too many failed authentications from this address; slow down.")


def note_failed_auth(address: str) -> None:
    name, _retry = _name(f"fail:{address}")
    counters.count({name: WINDOW + 5})


def check_request(address: str, key_id: int) -> None:
    """Count the request against its address and its key (both at once: one round trip)."""
    by_address, retry = _name(f"addr:{address}")
    by_key, _retry = _name(f"key:{key_id}")
    counts = counters.count({by_address: WINDOW + 5, by_key: WINDOW + 5})
    if counts[by_address] > settings.API_RATE_LIMIT_PER_ADDRESS:
        raise RateLimited(retry, "Too many requests from this address; slow down.")
    if counts[by_key] > settings.API_RATE_LIMIT_PER_KEY:
        raise RateLimited(retry, "Too many requests with this API key; slow down.")
