"""The Redis cache backend, with one client per connection pool, and counters that cost one
round trip.

Django's Redis client builds a new ``redis.Redis`` (and its table of response
callbacks) for every cache call, and its ``incr`` asks whether the key exists
first. A ``redis.Redis`` is safe to share between threads, so one per pool
serves every call; ``count`` sends all of a request's counters in one
transaction, ``count_within`` the counters of a rate limit and those counted only within it
in one script.
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


# KEYS: the limited counters, then the others; ARGV[1]: how many are limited, then each
# counter's lifetime and limit (0 for the others). Counts each limited counter; the others
# only when none of those went past its limit. Returns the counts made, in KEYS' order.
_COUNT_WITHIN = """
local limited = tonumber(ARGV[1])
local over = false
local counts = {}
for i, key in ipairs(KEYS) do
  if over and i > limited then break end
  redis.call('SET', key, 0, 'EX', ARGV[2 * i], 'NX')
  counts[i] = redis.call('INCR', key)
  if i <= limited and counts[i] > tonumber(ARGV[2 * i + 1]) then over = true end
end
return counts
"""
_scripts: dict[str, object] = {}


def count_within(limited: dict[str, tuple[int, int]], then: dict[str, int]) -> dict[str, int]:
    """Add one to each counter of ``limited`` (name: lifetime, limit) and, when none of them
    is now past its limit, to each counter of ``then`` (name: lifetime), as ``count`` does;
    on Redis in one round trip (a Lua script, atomic). Returns the new counts; ``then``'s
    are missing when they were not counted."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        names = [*limited, *then]
        args = [len(limited)]
        for ttl, limit in limited.values():
            args += [ttl, limit]
        for ttl in then.values():
            args += [ttl, 0]
        client = backend._cache.get_client(write=True)
        script = _scripts.get("count_within") or _scripts.setdefault(
            "count_within", client.register_script(_COUNT_WITHIN)
        )
        keys = [backend.make_and_validate_key(name) for name in names]
        return dict(zip(names, script(keys=keys, args=args, client=client), strict=False))
    counts = count({name: ttl for name, (ttl, _limit) in limited.items()})
    if all(counts[name] <= limit for name, (_ttl, limit) in limited.items()):
        counts.update(count(then))
    return counts
