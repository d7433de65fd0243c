"""API test helpers: keys for any demo role, and a client that sends them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache

from data_browser import datatypes as T
from data_browser.api.keys import create_key


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit windows and usage counters start empty in every test."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def make_key(world) -> Callable[..., str]:
    def make(role: str = "owner", scopes: tuple[str, ...] = T.ALL_SCOPES, **kw: Any) -> str:
        _key, raw = create_key(world.user(role), name=f"{role} test key", scopes=scopes, **kw)
        return raw

    return make


@pytest.fixture
def api(client) -> Callable[..., Any]:
    """``api(path, key, **params)``: a GET on /api/v3 with the key header."""

    def get(path: str, key: str | None = None, **params: Any):
        headers = {"X-API-Key": key} if key is not None else {}
        return client.get(f"/api/v3{path}", params, headers=headers)

    return get
