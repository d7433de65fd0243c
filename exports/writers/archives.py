"""ZIP archives: a folder per room, pieces merged without recompressing, and the archive's
data dictionary and metadata.json."""

from __future__ import annotations

import shutil
import struct
import time
import zipfile
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from itertools import islice

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connections
from django.db.models import Count

from data_browser import copysql
from data_browser import datatypes as T
from data_browser.models import Room

from .csv_files import write_type_csv
from .documents import data_dictionary, metadata_json
from .plan import FileEntry, HashingFile, Plan, media_name, safe_entry


def new_zip(path: str) -> zipfile.ZipFile:
    return zipfile.ZipFile(
        path,
        "w",
        compression=zipfile.ZIP_DEFLATED,
        compresslevel=settings.EXPORT_ZIP_LEVEL,
        allowZip64=True,
    )


@contextmanager
def zip_member(zf: zipfile.ZipFile, name: str, *, stored: bool = False):
    info = zipfile.ZipInfo(name, date_time=time.gmtime()[:6])
    info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    if not stored:
        # ``compress_level`` from Python 3.13 on, ``_compresslevel`` before.
        level_attr = "compress_level" if hasattr(info, "compress_level") else "_compresslevel"
        setattr(info, level_attr, settings.EXPORT_ZIP_LEVEL)
    info.external_attr = 0o644 << 16
    with zf.open(info, "w", force_zip64=True) as member:
        yield member


def write_rooms_into_zip(plan: Plan, zf: zipfile.ZipFile, rooms: list[Room]) -> list[FileEntry]:
    """Folder per room, one CSV per data type (plus media files when asked for)."""
    by_copy: dict[tuple[int, str], FileEntry] = {}
    for dt in plan.types:
        if plan.use_copy(dt):
            by_copy.update(write_type_across_rooms(plan, zf, dt, rooms))
    entries = []
    for room in rooms:
        folder = plan.room_folder(room)
        for dt in plan.types:
            if (room.pk, dt.key) in by_copy:
                entries.append(by_copy[room.pk, dt.key])
                continue
            path = safe_entry(folder, f"{dt.file_stem}.csv")
            with zip_member(zf, path) as member:
                entries.append(write_type_csv(plan, dt, room, member, path))
        if plan.job.include_media:
            for dt in plan.types:
                if dt.has_media:
                    entries.extend(write_media(plan, dt, zf, room, folder))
    return entries


def write_type_across_rooms(
    plan: Plan, zf: zipfile.ZipFile, dt: T.DataType, rooms: list[Room]
) -> dict[tuple[int, str], FileEntry]:
    """One data type for all ``rooms``, a CSV per room, out of a single COPY ordered by room
    (one statement instead of one per room). The server sends one message per row, so the
    rooms' row counts, read in the same snapshot, cut the stream into the rooms' files."""
    conn = plan.conn or connections["default"]
    ordered = sorted(rooms, key=lambda r: r.pk)
    qs = plan.records_qs(dt).filter(room_id__in=[r.pk for r in ordered])
    counts_sql, counts_params = (
        qs.values("room_id").annotate(n=Count("id")).order_by().query.sql_with_params()
    )
    with conn.cursor() as cursor:
        cursor.execute(counts_sql, counts_params)
        per_room = dict(cursor.fetchall())
    sql, params = copysql.api_select_sql(dt, qs.order_by("room_id", "onset", "id"))
    plan.say(f"Writing {dt.file_stem}.csv of {len(rooms)} rooms…")
    messages = _Counted(copysql.copy_messages(sql, params, connection=conn))
    entries = {}
    try:
        for room in ordered:
            rows = per_room.get(room.pk, 0)
            path = safe_entry(plan.room_folder(room), f"{dt.file_stem}.csv")
            with zip_member(zf, path) as member:
                out = HashingFile(member)
                out.write(plan.csv_head(dt))
                for block in copysql.blocks(islice(messages, rows)):
                    out.write(block)
            plan.tick(rows)
            entries[room.pk, dt.key] = out.entry(path, dt.api_name, rows)
        extra = next(messages, None) is not None
    finally:
        messages.close()
    if extra or messages.count != sum(per_room.values()):
        raise RuntimeError(f"{dt.file_stem}: the rows sent differ from the rows counted")
    return entries


class _Counted(Iterator):
    """Passes the items of a generator through, counting them."""

    def __init__(self, items: Generator) -> None:
        self.items = items
        self.count = 0

    def __next__(self):
        item = next(self.items)
        self.count += 1
        return item

    def close(self) -> None:
        self.items.close()


def write_media(
    plan: Plan, dt: T.DataType, zf: zipfile.ZipFile, room: Room, folder: str
) -> list[FileEntry]:
    """The media files of one type's records in a room, under the room's ``media/`` folder."""
    entries = []
    plan.say("Adding media files…")
    records = plan.records_qs(dt).filter(room_id=room.pk).exclude(file="")
    for name in records.order_by("onset", "id").values_list("file", flat=True):
        if not default_storage.exists(name):
            continue
        path = safe_entry(folder, "media", media_name(name))
        with zip_member(zf, path, stored=True) as member, default_storage.open(name, "rb") as src:
            out = HashingFile(member)
            shutil.copyfileobj(src, out, 1024 * 1024)
        entries.append(out.entry(path, "recording-media", 0))
    return entries


def merge_zip(target: zipfile.ZipFile, source_path: str) -> int:
    """Append every member of another ZIP to ``target`` without recompressing it.

    The compressed bytes are copied as they are, with a fresh local header at the new offset;
    the central directory is written by ``target`` when it closes. Returns the member count.
    """
    count = 0
    fp = target.fp
    with open(source_path, "rb") as src_file, zipfile.ZipFile(src_file) as source:
        for info in source.infolist():
            src_file.seek(info.header_offset)
            header = src_file.read(zipfile.sizeFileHeader)
            name_len, extra_len = struct.unpack("<HH", header[26:30])
            src_file.seek(info.header_offset + zipfile.sizeFileHeader + name_len + extra_len)
            copied = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            for attr in ("compress_type", "CRC", "compress_size", "file_size", "external_attr"):
                setattr(copied, attr, getattr(info, attr))
            copied.flag_bits = info.flag_bits & ~0x08  # sizes are known: no data descriptor
            zip64 = (
                copied.file_size > zipfile.ZIP64_LIMIT or copied.compress_size > zipfile.ZIP64_LIMIT
            )
            fp.seek(target.start_dir)
            copied.header_offset = fp.tell()
            fp.write(copied.FileHeader(zip64))
            remaining = info.compress_size
            while remaining:
                block = src_file.read(min(remaining, 1024 * 1024))
                if not block:
                    raise zipfile.BadZipFile(f"{info.filename} is truncated in {source_path}")
                fp.write(block)
                remaining -= len(block)
            target.filelist.append(copied)
            target.NameToInfo[copied.filename] = copied
            target.start_dir = fp.tell()
            target._didModify = True
            count += 1
    return count


def finish_zip(plan: Plan, zf: zipfile.ZipFile, entries: list[FileEntry], rooms: list[Room]):
    plan.say("Creating ZIP…")
    dictionary = data_dictionary(plan, entries)
    with zip_member(zf, "data_dictionary.csv") as member:
        out = HashingFile(member)
        out.write(plan.bom + dictionary)
    entries = [*entries, out.entry("data_dictionary.csv", "data-dictionary", 0)]
    with zip_member(zf, "metadata.json") as member:
        member.write(metadata_json(plan, entries, rooms))
