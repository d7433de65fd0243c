"""Remove identifiers and aggregate only: what leaves the building."""

from __future__ import annotations

import re
import statistics

import orjson
import pytest

from data_browser import datatypes as T
from data_browser.identity import participant_code
from data_browser.models import DataRequest, Participant, RoomParticipant
from exports.anonymize import room_code
from exports.models import Status

from .conftest import content, open_zip, parse_csv

pytestmark = pytest.mark.django_db


def identifying_values(experiment) -> set[str]:
    """Every id, name (and each part of it), email and IP of the experiment's participants."""
    values: set[str] = set()
    people = Participant.objects.filter(room_participants__room__experiment=experiment).distinct()
    for p in people:
        values |= {p.public_id, p.display_name, p.email, p.ip_address or ""}
        values |= set(p.display_name.split())
    return {v for v in values if v}


def leaks(blob: str, values: set[str]) -> list[str]:
    return [v for v in values if re.search(rf"(?<![\w.]){re.escape(v)}(?![\w.])", blob)]


def whole_archive(job) -> str:
    """Every file name and every byte of every file of a ZIP export, as text."""
    archive = open_zip(job)
    parts = [job.file_name, job.file.name, *archive.namelist()]
    parts += [archive.read(name).decode("utf-8", "replace") for name in archive.namelist()]
    return "\n".join(parts)


@pytest.mark.parametrize("fmt", ["zip", "json", "csv"])
def test_a_remove_identifiers_export_holds_no_id_name_email_or_ip(export, world, fmt):
    job = export("collaborator", level="experiment", fmt=fmt, anonymization="remove")
    assert job.status == Status.SUCCEEDED, job.error
    values = identifying_values(world.experiment)
    assert len(values) > 20
    blob = whole_archive(job)
    assert leaks(blob, values) == []
    # The records are all there, under codes that are stable within the experiment.
    code = participant_code(world.experiment.public_id, world.participant.public_id)
    assert code in blob
    assert room_code(world.experiment.public_id, world.room.public_id) in blob
    assert "downloadUrl" in blob or fmt != "zip"


def test_room_folders_and_file_names_are_codes(export, world):
    job = export("owner", level="room", room_id=world.room.public_id, anonymization="remove")
    code = room_code(world.experiment.public_id, world.room.public_id)
    names = open_zip(job).namelist()
    assert f"{code}/events.csv" in names
    assert world.room.public_id not in job.file_name
    assert not any(world.room.public_id in n for n in names)
    rows = parse_csv(open_zip(job).read(f"{code}/recordings.csv"))
    link = rows[0].index("downloadUrl")
    assert rows[1:] and all(row[link] == "" for row in rows[1:])


def test_participant_codes_differ_across_experiments(world):
    pid = world.participant.public_id
    assert participant_code("exp_a", pid) == participant_code("exp_a", pid)
    assert participant_code("exp_a", pid) != participant_code("exp_b", pid)
    assert pid not in participant_code("exp_a", pid)


def test_media_files_are_refused_without_identifiers(export, world):
    from exports.services import ExportInvalid

    with pytest.raises(ExportInvalid, match="media"):
        export(
            level="room", room_id=world.room.public_id, anonymization="remove", include_media=True
        )


def test_aggregates_hold_no_row_about_one_person(export, world):
    job = export("aggcollab", level="experiment", fmt="zip", anonymization="aggregate")
    assert job.status == Status.SUCCEEDED, job.error
    archive = open_zip(job)
    blob = whole_archive(job)
    assert leaks(blob, identifying_values(world.experiment)) == []
    for name in archive.namelist():
        if name.endswith(".csv") and name != "data_dictionary.csv":
            rows = parse_csv(archive.read(name))
            assert "participantId" not in rows[0]
            count = rows[0].index("participants")
            assert all(int(r[count]) >= 3 for r in rows[1:])
    sparse = parse_csv(archive.read("sparse_ratings_summary.csv"))
    header, row = sparse[0], sparse[1]
    values = list(
        T.SPARSE_RATINGS.model.objects.filter(
            experiment=world.experiment, component_id="mood_assessment"
        ).values_list("value", flat=True)
    )
    assert int(row[header.index("ratings")]) == len(values)
    assert float(row[header.index("valueMean")]) == pytest.approx(statistics.mean(values))
    assert float(row[header.index("valueSd")]) == pytest.approx(statistics.stdev(values))
    assert float(row[header.index("valueMin")]) == min(values)


def test_small_groups_are_suppressed(export, world, settings):
    per_room = RoomParticipant.objects.filter(room=world.room).count()
    settings.AGGREGATE_MIN_GROUP = per_room + 1
    job = export(
        "owner",
        level="room",
        room_id=world.room.public_id,
        anonymization="aggregate",
        fmt="json",
        data_types=["chat"],
    )
    body = orjson.loads(content(job))
    assert body["data"] == []
    assert body["metadata"]["suppressedGroups"] == 1
    settings.AGGREGATE_MIN_GROUP = per_room
    job = export(
        "owner",
        level="room",
        room_id=world.room.public_id,
        anonymization="aggregate",
        fmt="json",
        data_types=["chat"],
    )
    body = orjson.loads(content(job))
    assert [r["participants"] for r in body["data"]] == [per_room]


def test_continuous_ratings_are_averaged_in_time_bins(export, world):
    job = export(
        "owner",
        level="experiment",
        anonymization="aggregate",
        fmt="json",
        data_types=["continuous"],
    )
    data = orjson.loads(content(job))["data"]
    assert data
    first = data[0]
    samples = T.CONTINUOUS_RATINGS.model.objects.filter(
        experiment=world.experiment,
        onset__gte=first["binStart"],
        onset__lt=first["binStart"] + 1000,
    ).values_list("value", flat=True)
    assert first["samples"] == len(samples)
    assert first["valueMean"] == pytest.approx(statistics.mean(samples), abs=1e-6)


def test_aggregates_are_refused_for_one_participant(export, world):
    from exports.services import ExportInvalid

    with pytest.raises(ExportInvalid, match="several participants"):
        export(
            "owner",
            level="participant",
            room_id=world.room.public_id,
            participant_id=world.participant.public_id,
            anonymization="aggregate",
        )


def test_an_approved_data_request_exports_own_data_with_others_anonymized(
    export, world, eager, django_capture_on_commit_callbacks
):
    from exports import services

    user = world.user("participant")
    request = DataRequest.objects.create(
        participant=world.participant,
        experiment=world.experiment,
        requested_by=user,
        kind=DataRequest.Kind.ACCESS,
        status=DataRequest.Status.APPROVED,
    )
    with django_capture_on_commit_callbacks(execute=True):
        job = services.start_export(
            user,
            level="experiment",
            experiment_id=world.experiment.public_id,
            fmt="zip",
            for_participant_request=request,
        )
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED, job.error
    blob = whole_archive(job)
    own = world.participant.public_id
    assert own in blob
    others = identifying_values(world.experiment) - identifying_values_of(world.participant)
    assert leaks(blob, others) == []
    rows = parse_csv(open_zip(job).read(f"{world.room.public_id}/events.csv"))
    col = rows[0].index("participantId")
    assert rows[1:] and {r[col] for r in rows[1:]} == {own}


def identifying_values_of(p: Participant) -> set[str]:
    return {
        v
        for v in {p.public_id, p.display_name, p.email, p.ip_address, *p.display_name.split()}
        if v
    }


def test_a_pending_data_request_exports_nothing(world):
    from exports import services
    from exports.models import ExportJob

    request = DataRequest.objects.create(
        participant=world.participant,
        experiment=world.experiment,
        kind=DataRequest.Kind.ACCESS,
    )
    with pytest.raises(services.ExportDenied):
        services.start_export(
            world.user("participant"),
            level="experiment",
            experiment_id=world.experiment.public_id,
            for_participant_request=request,
        )
    assert not ExportJob.objects.exists()
