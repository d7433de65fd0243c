"""Write endpoints: ingest (and export jobs)."""

from __future__ import annotations
