"""Aggregate exports: one summary per data type, no row-level data."""

from __future__ import annotations

import io
from typing import IO

import orjson
from django.conf import settings
from django.utils import timezone

from data_browser import csvcells
from data_browser import datatypes as T

from .. import anonymize
from ..models import Format
from .plan import FileEntry, HashingFile, Plan


def write_summary(plan: Plan, dt: T.DataType, raw: IO[bytes], path: str, fmt: str) -> FileEntry:
    plan.say(f"Summarising {dt.label.lower()}…")
    summary = anonymize.summaries(dt, plan.records_qs(dt), plan.experiment_public_id)
    summary = anonymize.scrub_labels(summary, plan.policy)
    out = HashingFile(raw)
    if fmt == Format.JSON:
        data = [dict(zip(summary.column_names, row, strict=True)) for row in summary.rows]
        meta = {
            "dataType": dt.api_name,
            "aggregate": summary.stem,
            "minGroupSize": settings.AGGREGATE_MIN_GROUP,
            "suppressedGroups": summary.suppressed,
            "timestamp": T.iso(timezone.now()),
        }
        out.write(orjson.dumps({"data": data, "metadata": meta}))
    else:
        text = io.StringIO()
        writer = csvcells.Writer(text)
        writer.writerow(summary.column_names)
        writer.writerows([csvcells.cell(v) for v in row] for row in summary.rows)
        out.write(plan.bom + text.getvalue().encode())
    plan.tick(len(summary.rows))
    return out.entry(path, dt.api_name, len(summary.rows))


def summary_stem(dt: T.DataType) -> str:
    return {
        "continuous": "continuous_ratings_summary",
        "sparse": "sparse_ratings_summary",
    }.get(dt.key, f"{dt.key}_summary")
