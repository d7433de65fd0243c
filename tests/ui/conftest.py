"""A fresh cache per test: tab counts, pick-lists and quality reports are cached by object id,
which other tests of the run reuse with other data."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture(autouse=True)
def _own_cache(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"ui-{uuid.uuid4()}",
        }
    }
