"""Whole jobs: the one file a job's task writes, and how an experiment-level ZIP is cut into
pieces of rooms that tasks build in parallel."""

from __future__ import annotations

from django.conf import settings

from data_browser.access import Anonymization
from data_browser.models import Room

from ..models import ExportJob, Format, Level
from .aggregates import summary_stem, write_summary
from .archives import finish_zip, new_zip, write_rooms_into_zip, zip_member
from .csv_files import write_type_csv
from .json_files import write_type_json
from .plan import Plan, rows_by_room


def build(plan: Plan, path: str) -> str:
    """Write the job's file to ``path``; returns the extension of what was written."""
    job = plan.job
    rooms = plan.rooms()
    plan.say("Fetching data…")
    # A filtered export is a ZIP too: its metadata.json records the filters.
    single = len(plan.types) == 1 and job.fmt != Format.ZIP and not job.filters
    if job.anonymization == Anonymization.AGGREGATE:
        if single:
            with open(path, "wb") as raw:
                dt = plan.types[0]
                write_summary(plan, dt, raw, f"{summary_stem(dt)}.{job.fmt}", job.fmt)
            return job.fmt
        ext = Format.JSON if job.fmt == Format.JSON else Format.CSV
        with new_zip(path) as zf:
            entries = []
            for dt in plan.types:
                name = f"{summary_stem(dt)}.{ext}"
                with zip_member(zf, name) as member:
                    entries.append(write_summary(plan, dt, member, name, ext))
            finish_zip(plan, zf, entries, rooms)
        return Format.ZIP
    if single:
        dt = plan.types[0]
        writer = write_type_json if job.fmt == Format.JSON else write_type_csv
        with open(path, "wb") as raw:
            entry = writer(plan, dt, None, raw, f"{dt.file_stem}.{job.fmt}")
        plan.digest = (entry.sha256, entry.bytes)
        return job.fmt
    with new_zip(path) as zf:
        if job.fmt == Format.ZIP:
            entries = write_rooms_into_zip(plan, zf, rooms)
        else:
            writer = write_type_json if job.fmt == Format.JSON else write_type_csv
            entries = []
            for dt in plan.types:
                name = f"{dt.file_stem}.{job.fmt}"
                with zip_member(zf, name) as member:
                    entries.append(writer(plan, dt, None, member, name))
        finish_zip(plan, zf, entries, rooms)
    return Format.ZIP


def splits_into_pieces(job: ExportJob) -> bool:
    """Experiment-level ZIPs of records are built per group of rooms, in parallel tasks."""
    return (
        job.level == Level.EXPERIMENT
        and job.fmt == Format.ZIP
        and job.anonymization != Anonymization.AGGREGATE
    )


def room_groups(plan: Plan, rooms: list[Room]) -> list[tuple[list[int], int]]:
    """Consecutive rooms grouped so that each group holds about ``EXPORT_PIECE_ROWS`` rows."""
    per_room = rows_by_room(plan)
    groups: list[tuple[list[int], int]] = []
    current: list[int] = []
    rows = 0
    for room in rooms:
        current.append(room.pk)
        rows += per_room.get(room.pk, 0)
        if rows >= settings.EXPORT_PIECE_ROWS:
            groups.append((current, rows))
            current, rows = [], 0
    if current or not groups:
        groups.append((current, rows))
    return groups
