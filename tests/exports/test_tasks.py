"""Export jobs run to their end and their files read back against the database.

These run on PostgreSQL (COPY for CSV with identifiers kept) and on SQLite (the
chunked-cursor writer); the assertions are the same.
"""

from __future__ import annotations

import hashlib
import zipfile

import orjson
import pytest
from django.db.models import F, QuerySet

from data_browser import copysql, csvcells
from data_browser import datatypes as T
from data_browser.models import RecordCount, Room, RoomParticipant
from exports import writers
from exports.models import ExportJob, ExportPiece, Status
from exports.writers import plan as writer_plan

from .conftest import content, open_zip, parse_csv

pytestmark = pytest.mark.django_db


def scoped(dt: T.DataType, **filters) -> QuerySet:
    return dt.model.objects.filter(**filters).order_by("onset", "id")


def records(dt: T.DataType, qs: QuerySet) -> list[dict]:
    return list(T.to_records(dt, T.select(dt, qs)))


def csv_rows(dt: T.DataType, qs: QuerySet) -> list[list[str]]:
    """What the file must hold: the API records as CSV cells, without the signed links."""
    keep = [i for i, f in enumerate(dt.fields) if f.kind != T.URL]
    out = []
    for row in csvcells.rows(dt, records(dt, qs)):
        out.append([str(row[i]) for i in keep])
    return out


def without_links(dt: T.DataType, rows: list[list[str]]) -> list[list[str]]:
    keep = [i for i, f in enumerate(dt.fields) if f.kind != T.URL]
    return [[row[i] for i in keep] for row in rows]


def test_it_writes_one_type_of_one_participant_as_a_csv(export, world):
    room = world.room
    pid = world.participant.public_id
    job = export(
        level="type",
        room_id=room.public_id,
        participant_id=pid,
        data_types=["events"],
        fmt="csv",
    )
    assert job.status == Status.SUCCEEDED, job.error
    assert job.file_name.endswith(".csv") and pid in job.file_name
    rows = parse_csv(content(job))
    assert rows[0] == T.EVENTS.field_names
    expected = csv_rows(T.EVENTS, scoped(T.EVENTS, room=room, participant=world.participant))
    assert rows[1:] == expected
    assert len(expected) > 10
    assert job.rows_done == job.rows_expected == len(expected)
    assert job.sha256 == hashlib.sha256(content(job)).hexdigest()
    assert job.size == len(content(job))


def test_it_writes_one_type_as_the_api_json_envelope(export, world):
    job = export(level="room", room_id=world.room.public_id, data_types=["chat"], fmt="json")
    assert job.status == Status.SUCCEEDED, job.error
    body = orjson.loads(content(job))
    assert body["data"] == records(T.CHAT, scoped(T.CHAT, room=world.room))
    meta = body["metadata"]
    assert meta["dataType"] == "chat" and meta["scope"] == "room"
    assert meta["scopeId"] == world.room.public_id
    assert meta["pagination"]["total"] == len(body["data"]) > 0
    assert meta["processing"]["experimentStartedAt"] == T.iso(world.room.started_at)


def test_it_writes_all_types_of_a_participant_as_a_zip_of_json_files(export, world):
    job = export(
        level="participant",
        room_id=world.room.public_id,
        participant_id=world.participant.public_id,
        fmt="json",
    )
    assert job.status == Status.SUCCEEDED, job.error
    archive = open_zip(job)
    meta = orjson.loads(archive.read("metadata.json"))
    for dt in T.DATA_TYPES:
        body = orjson.loads(archive.read(f"{dt.file_stem}.json"))
        expected = records(dt, scoped(dt, room=world.room, participant=world.participant))
        strip = [f.name for f in dt.fields if f.kind == T.URL]
        got = [{k: v for k, v in r.items() if k not in strip} for r in body["data"]]
        assert got == [{k: v for k, v in r.items() if k not in strip} for r in expected]
        entry = next(f for f in meta["files"] if f["path"] == f"{dt.file_stem}.json")
        assert entry["rows"] == len(expected)
        assert entry["sha256"] == hashlib.sha256(archive.read(entry["path"])).hexdigest()


def test_it_writes_a_room_as_a_zip_with_a_folder_metadata_and_a_dictionary(export, world):
    job = export(level="room", room_id=world.room.public_id, fmt="zip")
    assert job.status == Status.SUCCEEDED, job.error
    archive = open_zip(job)
    assert archive.testzip() is None
    folder = world.room.public_id
    meta = orjson.loads(archive.read("metadata.json"))
    assert meta["createdBy"] == "owner"
    assert meta["level"] == "room" and meta["anonymization"] == "keep"
    assert meta["scope"]["scopeId"] == folder
    assert meta["dataTypes"] == [dt.api_name for dt in T.DATA_TYPES]
    assert meta["software"]["version"]
    total = 0
    for dt in T.DATA_TYPES:
        path = f"{folder}/{dt.file_stem}.csv"
        rows = parse_csv(archive.read(path))
        assert rows[0] == dt.field_names
        expected = csv_rows(dt, scoped(dt, room=world.room))
        assert without_links(dt, rows[1:]) == expected
        entry = next(f for f in meta["files"] if f["path"] == path)
        assert entry["rows"] == len(expected)
        assert entry["sha256"] == hashlib.sha256(archive.read(path)).hexdigest()
        total += len(expected)
    assert meta["rows"] == total == job.rows_done
    dictionary = parse_csv(archive.read("data_dictionary.csv"))
    assert dictionary[0] == ["file", "column", "meaning", "type", "unit", "notes"]
    onset = next(r for r in dictionary if r[0] == "events.csv" and r[1] == "onset")
    assert onset[4] == "ms" and "negative" in onset[5]
    sampling = next(
        r for r in dictionary if r[0] == "ratings_continuous.csv" and r[1] == "timestamp"
    )
    assert "100-500 ms" in sampling[5]
    assert meta["ratingScales"]["emotion_rating"] == {"scaleMin": 0.0, "scaleMax": 100.0}


def test_it_builds_an_experiment_zip_in_pieces_and_merges_them(export, world, settings):
    settings.EXPORT_PIECE_ROWS = 1  # one room per piece
    job = export(level="experiment", fmt="zip", data_types=["events", "sync"])
    assert job.status == Status.SUCCEEDED, job.error
    rooms = list(Room.objects.filter(experiment=world.experiment))
    assert len(rooms) > 1
    assert not ExportPiece.objects.filter(job=job).exists()  # parts removed after the merge
    archive = open_zip(job)
    assert archive.testzip() is None
    names = archive.namelist()
    assert len(names) == len(set(names))
    meta = orjson.loads(archive.read("metadata.json"))
    for room in rooms:
        for dt in (T.EVENTS, T.SYNC):
            path = f"{room.public_id}/{dt.file_stem}.csv"
            assert parse_csv(archive.read(path))[1:] == csv_rows(dt, scoped(dt, room=room))
            entry = next(f for f in meta["files"] if f["path"] == path)
            assert entry["sha256"] == hashlib.sha256(archive.read(path)).hexdigest()
    expected = sum(
        dt.model.objects.filter(experiment=world.experiment).count() for dt in (T.EVENTS, T.SYNC)
    )
    assert meta["rows"] == expected == job.rows_done == job.rows_expected


def test_pieces_are_cut_by_the_kept_counts_and_a_filtered_job_counts_its_rows(
    export, world, settings, monkeypatch
):
    """An unfiltered experiment ZIP is cut by the counts kept with the records (no scan of a
    million rows before the first piece starts); counts left behind by a write around ingest
    only misjudge the progress, and the finished job says what it wrote. A filtered job's
    rows are counted."""
    settings.EXPORT_PIECE_ROWS = 1
    RecordCount.objects.update(records=F("records") * 2)
    job = export(level="experiment", fmt="zip", data_types=["events", "sync"])
    assert job.status == Status.SUCCEEDED, job.error
    written = sum(
        dt.model.objects.filter(experiment=world.experiment).count() for dt in (T.EVENTS, T.SYNC)
    )
    assert job.rows_done == job.rows_expected == written
    assert orjson.loads(open_zip(job).read("metadata.json"))["rows"] == written

    seen = []
    real = writer_plan.rows_by_room

    def spy(plan):
        found = real(plan)
        seen.append(sum(found.values()))
        return found

    monkeypatch.setattr(writer_plan, "rows_by_room", spy)  # count_rows looks it up there

    events = T.EVENTS.model.objects.filter(experiment=world.experiment)
    components = events.filter(T.category_filter("component")).count()
    for filters, counted, written in (
        ({}, 2 * events.count(), events.count()),
        ({"category": "component"}, components, components),
    ):
        seen.clear()
        job = export(level="experiment", fmt="csv", data_types=["events"], filters=filters)
        assert job.status == Status.SUCCEEDED, job.error
        assert seen == [counted] and written > 0
        assert job.rows_done == job.rows_expected == written


@pytest.mark.postgres
def test_one_copy_per_type_is_cut_into_the_files_of_every_room(export, world, monkeypatch):
    statements = []
    real = copysql.copy_messages

    def spy(sql, params, *, connection):
        statements.append(sql)
        return real(sql, params, connection=connection)

    monkeypatch.setattr(copysql, "copy_messages", spy)
    job = export(level="experiment", fmt="zip")  # every room in one piece
    assert job.status == Status.SUCCEEDED, job.error
    copied = [dt for dt in T.DATA_TYPES if copysql.copy_supported(dt)]
    assert len(statements) == len(copied)
    rooms = list(Room.objects.filter(experiment=world.experiment).order_by("started_at", "pk"))
    archive = open_zip(job)
    meta = orjson.loads(archive.read("metadata.json"))
    for room in rooms:
        for dt in copied:
            path = f"{room.public_id}/{dt.file_stem}.csv"
            rows = parse_csv(archive.read(path))
            assert rows[0] == dt.field_names
            assert rows[1:] == csv_rows(dt, scoped(dt, room=room))
    data_files = [f["path"] for f in meta["files"] if f["dataType"] in T.BY_API_NAME]
    assert data_files == [
        f"{room.public_id}/{dt.file_stem}.csv" for room in rooms for dt in T.DATA_TYPES
    ]


@pytest.mark.postgres
def test_rows_that_differ_from_their_count_fail_the_export(export, world, monkeypatch):
    real = copysql.copy_messages

    def one_row_too_many(sql, params, *, connection):
        last = None
        for last in real(sql, params, connection=connection):
            yield last
        yield last

    monkeypatch.setattr(copysql, "copy_messages", one_row_too_many)
    job = export(level="room", room_id=world.room.public_id, fmt="zip", data_types=["events"])
    assert job.status == Status.FAILED
    assert "RuntimeError" in job.error
    assert not job.file


def test_it_writes_several_types_as_csv_in_a_zip(export, world):
    job = export(level="experiment", fmt="csv", data_types=["chat", "sparse"])
    assert job.status == Status.SUCCEEDED, job.error
    archive = open_zip(job)
    assert sorted(archive.namelist()) == [
        "chat.csv",
        "data_dictionary.csv",
        "metadata.json",
        "ratings_sparse.csv",
    ]
    for dt in (T.CHAT, T.SPARSE_RATINGS):
        rows = parse_csv(archive.read(f"{dt.file_stem}.csv"))[1:]
        assert sorted(rows) == sorted(csv_rows(dt, scoped(dt, experiment=world.experiment)))


def test_it_includes_recording_files_and_points_the_links_at_them(export, world):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    for rec in T.RECORDINGS.model.objects.filter(room=world.room).exclude(file=""):
        if not default_storage.exists(rec.file.name):
            default_storage.save(rec.file.name, ContentFile(bytes.fromhex("1a45dfa3") + b"x"))
    job = export(level="room", room_id=world.room.public_id, fmt="zip", include_media=True)
    assert job.status == Status.SUCCEEDED, job.error
    archive = open_zip(job)
    folder = world.room.public_id
    rows = parse_csv(archive.read(f"{folder}/recordings.csv"))
    link = rows[0].index("downloadUrl")
    assert len(rows) > 1
    for row in rows[1:]:
        assert row[link].startswith("media/")
        media = archive.read(f"{folder}/{row[link]}")
        assert media.startswith(bytes.fromhex("1a45dfa3"))


def test_it_ends_denied_when_the_right_is_revoked_before_the_task_runs(world, eager):
    from data_browser.models import Membership
    from exports import services, tasks

    job = services.start_export(
        world.user("fullcollab"),
        level="room",
        experiment_id=world.experiment.public_id,
        room_id=world.room.public_id,
    )
    Membership.objects.filter(user=world.user("fullcollab")).update(export_right="none")
    tasks.run_export(job.pk)
    job.refresh_from_db()
    assert job.status == Status.DENIED
    assert "Access withdrawn" in job.error and "No export (view only)" in job.error
    assert not job.file


def test_a_redelivered_task_leaves_a_finished_job_alone(export, world):
    from exports import tasks

    job = export(level="room", room_id=world.room.public_id, data_types=["chat"], fmt="csv")
    before = (job.file.name, job.sha256, job.attempts)
    tasks.run_export(job.pk)
    job.refresh_from_db()
    assert (job.file.name, job.sha256, job.attempts) == before


def test_a_rerun_of_a_running_job_restarts_it_cleanly(world, eager):
    from exports import services, tasks

    job = services.start_export(
        world.user("owner"),
        level="room",
        experiment_id=world.experiment.public_id,
        room_id=world.room.public_id,
        data_types=["events"],
        fmt="csv",
    )
    ExportJob.objects.filter(pk=job.pk).update(status=Status.RUNNING, attempts=1, rows_done=77)
    tasks.run_export(job.pk)
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED
    assert job.attempts == 2
    assert job.rows_done == T.EVENTS.model.objects.filter(room=world.room).count()


def test_it_gives_up_after_too_many_interruptions(world, eager, settings):
    from exports import services, tasks

    job = services.start_export(
        world.user("owner"),
        level="room",
        experiment_id=world.experiment.public_id,
        room_id=world.room.public_id,
    )
    ExportJob.objects.filter(pk=job.pk).update(
        status=Status.RUNNING, attempts=settings.EXPORT_MAX_ATTEMPTS
    )
    tasks.run_export(job.pk)
    job.refresh_from_db()
    assert job.status == Status.FAILED and "interrupted" in job.error
    assert not job.file


def test_a_soft_time_limit_fails_the_job_and_removes_its_temp_files(
    world, eager, monkeypatch, settings, tmp_path
):
    from celery.exceptions import SoftTimeLimitExceeded

    from exports import services, tasks

    settings.EXPORT_TEMP_DIR = str(tmp_path)
    job = services.start_export(
        world.user("owner"),
        level="room",
        experiment_id=world.experiment.public_id,
        room_id=world.room.public_id,
    )

    def too_slow(plan, path):
        with open(path, "wb") as fh:
            fh.write(b"partial")
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(writers, "build", too_slow)
    tasks.run_export(job.pk)
    job.refresh_from_db()
    assert job.status == Status.FAILED and "time limit" in job.error
    assert not job.file
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_the_beat_task_deletes_expired_files(export, world):
    from django.core.files.storage import default_storage
    from django.utils import timezone

    from exports import tasks

    job = export(level="room", room_id=world.room.public_id, data_types=["chat"], fmt="csv")
    name = job.file.name
    assert default_storage.exists(name)
    ExportJob.objects.filter(pk=job.pk).update(expires_at=timezone.now())
    assert tasks.purge_expired_exports()["expired"] == 1
    job.refresh_from_db()
    assert not default_storage.exists(name)
    assert not job.file and not job.is_downloadable


def test_participant_scope_covers_only_rooms_of_that_participant(export, world):
    rp = RoomParticipant.objects.filter(room=world.room).exclude(participant=world.participant)[0]
    job = export(
        level="participant",
        room_id=world.room.public_id,
        participant_id=rp.participant.public_id,
        fmt="zip",
    )
    archive = open_zip(job)
    folders = {n.split("/")[0] for n in archive.namelist() if "/" in n}
    assert folders == {world.room.public_id}
    rows = parse_csv(archive.read(f"{world.room.public_id}/events.csv"))[1:]
    pid_col = T.EVENTS.field_names.index("participantId")
    assert rows and {r[pid_col] for r in rows} == {rp.participant.public_id}


def test_zip_entry_names_cannot_escape():
    assert writers.safe_entry("room_1", "events.csv") == "room_1/events.csv"
    assert writers.safe_entry("../..", "x.csv") == "export/x.csv"
    assert "/" not in writers.safe_name("../../etc/passwd")
    assert writers.safe_name("../../etc/passwd") == "etc_passwd"


def test_merged_archives_are_valid_zip_files(tmp_path):
    parts = []
    for i in range(3):
        path = tmp_path / f"part{i}.zip"
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(f"room_{i}/events.csv", f"a,b\n{i},x\n" * 1000)
            zf.writestr(f"room_{i}/chat.csv", "")
        parts.append(path)
    out = tmp_path / "merged.zip"
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in parts:
            writers.merge_zip(zf, str(path))
        zf.writestr("metadata.json", "{}")
    with zipfile.ZipFile(out) as zf:
        assert zf.testzip() is None
        assert zf.read("room_2/events.csv") == b"a,b\n2,x\n" * 1000
        assert len(zf.namelist()) == 7
