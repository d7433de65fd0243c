"""The files that describe an export: ``data_dictionary.csv`` and ``metadata.json``."""

from __future__ import annotations

import io
import posixpath
from collections.abc import Iterable
from importlib import metadata as importlib_metadata
from typing import Any

import orjson
from django.conf import settings
from django.db.models import Max, Min
from django.utils import timezone

from data_browser import csvcells
from data_browser import datatypes as T
from data_browser.access import Anonymization
from data_browser.models import Room

from .. import anonymize
from ..models import SELF
from .plan import SCHEMA_VERSION, FileEntry, Plan, scope_of, scope_room_id


def software_version() -> str:
    try:
        return importlib_metadata.version("hyperstudy-dash")
    except importlib_metadata.PackageNotFoundError:
        return "0.1.0"


def data_dictionary(plan: Plan, entries: Iterable[FileEntry]) -> bytes:
    """One row per column of every data file: meaning, type, unit, notes."""
    text = io.StringIO()
    writer = csvcells.Writer(text)
    writer.writerow(["file", "column", "meaning", "type", "unit", "notes"])
    files = {posixpath.basename(e.path): e.dataType for e in entries if e.dataType in T.BY_API_NAME}
    for name in sorted(set(files)):
        dt = T.BY_API_NAME[files[name]]
        if plan.mode == Anonymization.AGGREGATE:
            summary = anonymize.summaries(dt, dt.model.objects.none(), "")
            for column, meaning, unit in summary.columns:
                writer.writerow([name, column, meaning, _value_type(column), unit, ""])
            continue
        for f in dt.fields:
            writer.writerow([name, f.name, f.meaning, f.value_type, f.unit, _notes(plan, dt, f)])
    return text.getvalue().encode()


def _value_type(column: str) -> str:
    text_columns = ("eventType", "componentId", "componentType", "stateId", "roomId", "format")
    return "string" if column in (*text_columns, "status") else "number"


def _notes(plan: Plan, dt: T.DataType, f: T.Field) -> str:
    notes = []
    if f.name in ("onset", "videoOffset"):
        notes.append("milliseconds from the room's start (experimentStartedAt); may be negative")
    if f.kind == T.PARTICIPANT and plan.mode in (Anonymization.REMOVE, SELF):
        notes.append("participant code (keyed HMAC), stable within this experiment")
    if f.kind == T.ROOM and plan.mode == Anonymization.REMOVE:
        notes.append("room code (keyed HMAC), the same as the room's folder name")
    if f.kind == T.ID and plan.mode == Anonymization.REMOVE:
        notes.append("record code (keyed HMAC of the record id), stable within this experiment")
    if f.deidentify == T.SCRUB and plan.mode in (Anonymization.REMOVE, SELF):
        notes.append("identifiers of other people replaced by codes or [removed]")
    if f.kind in (T.NAME,) and plan.mode == Anonymization.REMOVE:
        notes.append("removed")
    if f.kind in (T.NAME,) and plan.mode == SELF:
        notes.append("your own name; removed for everyone else")
    if f.kind == T.URL:
        notes.append(
            "path of the file in this archive"
            if plan.job.include_media
            else "signed link, valid for a limited time; empty without identifiers"
        )
    if f.name in ("scaleMin", "scaleMax", "value") and dt.has_scale:
        notes.append("rating scale bounds are given per row in scaleMin and scaleMax")
    if "sampling" in dt.notes and f.name == "timestamp":
        notes.append(dt.notes["sampling"])
    if f.kind == T.JSON:
        notes.append("JSON text")
    return "; ".join(notes)


def rating_scales(plan: Plan) -> dict[str, dict[str, Any]]:
    """Scale bounds per rating component in the export, for metadata.json."""
    scales: dict[str, dict[str, Any]] = {}
    for dt in plan.types:
        if not dt.has_scale:
            continue
        rows = (
            plan.records_qs(dt)
            .values("component_id")
            .annotate(lo=Min("scale_min"), hi=Max("scale_max"))
            .order_by("component_id")
        )
        for row in rows:
            component = plan.policy.label(row["component_id"])
            scales[component] = {"scaleMin": row["lo"], "scaleMax": row["hi"]}
    return scales


def metadata_json(plan: Plan, entries: list[FileEntry], rooms: list[Room]) -> bytes:
    job = plan.job
    scope, scope_id = scope_of(plan)
    sampling = {dt.api_name: dt.notes["sampling"] for dt in plan.types if "sampling" in dt.notes}
    meta = {
        "exportId": str(job.public_id),
        "createdBy": job.user.get_username(),
        "createdAt": T.iso(job.created_at),
        "writtenAt": T.iso(timezone.now()),
        "level": job.level,
        "scope": {
            "scope": scope,
            "scopeId": scope_id,
            "experimentId": plan.experiment_public_id,
            "roomIds": [scope_room_id(plan, r) for r in rooms],
        },
        "anonymization": job.anonymization,
        "minGroupSize": settings.AGGREGATE_MIN_GROUP
        if job.anonymization == Anonymization.AGGREGATE
        else None,
        "format": job.fmt,
        "includeMedia": job.include_media,
        "dataTypes": [dt.api_name for dt in plan.types],
        # A contextual export: the Data Viewer tab's filters, by API parameter name.
        "filtered": bool(job.filters),
        "filters": plan.filters(),
        "csv": {"encoding": "UTF-8", "byteOrderMark": job.csv_bom},
        "rows": sum(e.rows for e in entries),
        "files": [e.as_dict() for e in entries],
        "ratingScales": rating_scales(plan) if job.anonymization != Anonymization.AGGREGATE else {},
        "sampling": sampling,
        "timeBase": "onset = milliseconds from the room's start; timestamps are UTC (ISO 8601)",
        "schemaVersion": SCHEMA_VERSION,
        "software": {"name": "hyperstudy-dash", "version": software_version()},
    }
    return orjson.dumps(meta, option=orjson.OPT_INDENT_2)
