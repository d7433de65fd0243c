"""The Redis cache backend, with one client per connection pool, and counters that cost one
round trip.

Django's Redis client builds a new ``redis.Redis`` (and its table of response
callbacks) for every cache call, and its ``incr`` asks whether the key exists
first. A ``redis.Redis`` is safe to share between threads, so one per pool
serves every call; ``count`` sends all of a request's counters in one
transaction.
"""

from __future__ import annotations

from django.core.cache import caches
from django.core.cache.backends import redis as django_redis


class RedisCacheClient(django_redis.RedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            pool = self._get_connection_pool(write)
            client = self._clients.setdefault(index, self._client(connection_pool=pool))
        return client


class RedisCache(django_redis.RedisCache):
    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient


def count(counters: dict[str, int]) -> dict[str, int]:
    """Add one to each named counter and return the new counts. A counter that does not exist
    starts at 1; it lives for the given number of seconds from its first count on Redis, from
    its latest elsewhere (Django's ``incr`` would give it the cache's default lifetime)."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        keys = [backend.make_and_validate_key(name) for name in counters]
        with backend._cache.get_client(write=True).pipeline(transaction=True) as pipe:
            for key, ttl in zip(keys, counters.values(), strict=True):
                pipe.set(key, 0, ex=ttl, nx=True)
                pipe.incr(key)
            results = pipe.execute()
        return dict(zip(counters, results[1::2], strict=True))
    counts = {}
    for name, ttl in counters.items():
        if backend.add(name, 1, ttl):
            counts[name] = 1
            continue
        try:
            counts[name] = backend.incr(name)
        except ValueError:  # expired between add and incr
            backend.add(name, 1, ttl)
            counts[name] = 1
        else:
            backend.touch(name, ttl)
    return counts
