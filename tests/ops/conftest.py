"""Fixtures of other parts that the operations tests use: export jobs run in this process,
API keys."""

from __future__ import annotations

from tests.api.conftest import make_key  # noqa: F401
from tests.exports.conftest import eager, export  # noqa: F401
