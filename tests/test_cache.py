"""Counters in the cache (rate limits, API usage): one round trip on Redis, add/incr elsewhere."""

from __future__ import annotations

import time
import uuid

import pytest
from django.core.cache import cache, caches

from hyperstudy_dash.cache import RedisCache, count, count_within


def _names(n: int) -> list[str]:
    run = uuid.uuid4().hex
    return [f"test:counter:{run}:{i}" for i in range(n)]


def test_counters_start_at_one_and_count_up():
    a, b = _names(2)
    assert count({a: 60, b: 60}) == {a: 1, b: 1}
    assert count({a: 60}) == {a: 2}
    assert count({a: 60, b: 60}) == {a: 3, b: 2}
    assert (cache.get(a), cache.get(b)) == (3, 2)


def test_a_counter_ends_with_its_lifetime():
    (name,) = _names(1)
    count({name: 1})
    assert count({name: 1}) == {name: 2}
    time.sleep(2.1)
    assert cache.get(name) is None
    assert count({name: 1}) == {name: 1}


@pytest.mark.redis
def test_the_redis_cache_shares_one_client_and_counts_in_one_transaction(monkeypatch):
    backend = caches["default"]
    assert isinstance(backend, RedisCache)
    client = backend._cache.get_client(write=True)
    assert backend._cache.get_client(write=True) is client
    executed = []
    real_pipeline = client.pipeline

    def pipeline(*args, **kwargs):
        pipe = real_pipeline(*args, **kwargs)
        executed.append(kwargs.get("transaction", True))
        return pipe

    monkeypatch.setattr(client, "pipeline", pipeline)
    a, b, c = _names(3)
    assert count({a: 60, b: 60, c: 60}) == {a: 1, b: 1, c: 1}
    assert executed == [True]


def test_counters_within_limits_count_the_others_only_while_no_limit_is_passed():
    a, b, usage = _names(3)
    limited = {a: (60, 2), b: (60, 5)}
    assert count_within(limited, {usage: 60}) == {a: 1, b: 1, usage: 1}
    assert count_within(limited, {usage: 60}) == {a: 2, b: 2, usage: 2}
    assert count_within(limited, {usage: 60}) == {a: 3, b: 3}  # a is past its limit
    assert cache.get(usage) == 2
    assert count_within({b: (60, 5)}, {}) == {b: 4}


@pytest.mark.redis
def test_counting_within_limits_is_one_round_trip_on_redis(monkeypatch):
    client = caches["default"]._cache.get_client(write=True)
    scripts = []
    real_evalsha = client.evalsha

    def evalsha(*args, **kwargs):
        scripts.append(args[0])
        return real_evalsha(*args, **kwargs)

    monkeypatch.setattr(client, "evalsha", evalsha)
    a, usage = _names(2)
    assert count_within({a: (60, 1)}, {usage: 30}) == {a: 1, usage: 1}
    assert count_within({a: (60, 1)}, {usage: 30}) == {a: 2}
    assert len(scripts) == 2
    keys = [caches["default"].make_and_validate_key(name) for name in (a, usage)]
    assert 55 <= client.ttl(keys[0]) <= 60 and 25 <= client.ttl(keys[1]) <= 30
