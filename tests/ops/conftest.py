"""The export fixtures (jobs run in this process) serve the metrics and storage tests too."""

from __future__ import annotations

from tests.exports.conftest import eager, export  # noqa: F401
