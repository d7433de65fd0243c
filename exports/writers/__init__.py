"""CSV, JSON and ZIP writers: stream a job's rows from the database into files.

Everything here writes to local temporary files with constant memory: rows
come out of the database room by room (``COPY … TO STDOUT`` on PostgreSQL
for CSV with identifiers kept, a chunked server-side cursor otherwise), pass
through the job's anonymization and are written as they arrive. Reads happen
on a separate read-only connection with one snapshot for the whole export, so
that progress written on the default connection is visible while it runs.

A contextual export's filters narrow every read (``Plan.records_qs``), so the COPY path and
the Python path write the same rows; with ``csv_bom`` every CSV file (also inside a ZIP, also
the data dictionary) starts with the UTF-8 byte-order mark Excel looks for.

One module per format (``csv_files``, ``json_files``, ``archives``, ``aggregates``), the files
that describe an export (``documents``), what they all share (``plan``) and the whole job
(``jobs``); the export tasks use the names below.
"""

from __future__ import annotations

from .archives import finish_zip, merge_zip, new_zip, write_rooms_into_zip
from .jobs import build, room_groups, splits_into_pieces
from .plan import (
    Cancelled,
    FileEntry,
    Plan,
    count_rows,
    file_digest,
    reader,
    safe_entry,
    safe_name,
)

__all__ = [
    "Cancelled",
    "FileEntry",
    "Plan",
    "build",
    "count_rows",
    "file_digest",
    "finish_zip",
    "merge_zip",
    "new_zip",
    "reader",
    "room_groups",
    "safe_entry",
    "safe_name",
    "splits_into_pieces",
    "write_rooms_into_zip",
]
