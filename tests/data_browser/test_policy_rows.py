"""De-identified rows made by PostgreSQL (``Policy.columns`` + ``Policy.rows``) are the
records the Python policy makes (``Policy.records``), byte for byte in every file format,
on hostile data: the fast path of exports and API streams changes nothing a reader gets."""

from __future__ import annotations

import io
from datetime import timedelta

import orjson
import pytest

from data_browser import csvcells
from data_browser import datatypes as T
from data_browser.identity import Policy, RecordCode, record_code
from data_browser.models import Event
from tests.factories import hostile_room

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

AWKWARD = [
    "plain",
    "ünïcödé ✓ 🎉",
    "quote ' and \" inside",
    "back\\slash",
    "tab\tand\nnew line\r",
    "=SUM(A1:A2)",
    " \t-1",
    "",
]


def _awkward_events(world, room) -> None:
    """Events whose labels, text and payloads are awkward for CSV and JSON alike."""
    start = room.started_at
    Event.objects.bulk_create(
        Event(
            record_id=f"awk_{i}_{text}",
            experiment=world.experiment,
            room=room,
            participant=world.participant,
            timestamp=start + timedelta(milliseconds=i * 1001 - 5000, microseconds=999),
            onset=i * 1001 - 5000,
            event_type=text,
            category="",
            component_id=text,
            content=f"{text} {world.participant.public_id}",
            response={
                text: [text, i, -0.0, 1.5, 10**18, 0.1, None, True],
                "n": {"deep": {"er": [text]}},
            },
        )
        for i, text in enumerate(AWKWARD)
    )


def _scope(world, dt):
    return dt.model.objects.filter(experiment=world.experiment).order_by("onset", "id")


def _csv(rows) -> bytes:
    out = io.StringIO()
    writer = csvcells.Writer(out)
    writer.writerows(list(rows))
    return out.getvalue().encode()


@pytest.mark.parametrize("dt", T.DATA_TYPES, ids=lambda dt: dt.key)
@pytest.mark.parametrize("room_ids", [False, True], ids=["coded", "room-ids"])
def test_rows_made_by_the_database_equal_the_python_policy(world, dt, room_ids):
    hostile_room(world.experiment)
    _awkward_events(world, world.room)
    qs = _scope(world, dt)
    assert qs.exists()
    python = Policy.coded(world.experiment.public_id, room_ids=room_ids)
    records = python.records(dt, list(T.to_records(dt, T.select(dt, qs))))

    database = Policy.coded(world.experiment.public_id, room_ids=room_ids)
    assert database.in_database
    rows = database.rows(dt, list(qs.values_list(*database.columns(dt))))

    assert [dict(zip(dt.field_names, row, strict=True)) for row in rows] == records
    # The files: the JSON export's records and every CSV, byte for byte.
    as_records = [dict(zip(dt.field_names, row, strict=True)) for row in rows]
    assert orjson.dumps(as_records) == orjson.dumps(records)
    cells = csvcells.deidentified_rows(dt, database, list(qs.values_list(*database.columns(dt))))
    assert _csv(cells) == _csv(csvcells.rows(dt, records))


def test_record_codes_made_by_the_database_equal_record_code(world):
    exp = world.experiment.public_id
    hostile_room(world.experiment)
    events = Event.objects.filter(experiment=world.experiment)
    ids = list(events.values_list("record_id", flat=True))
    _awkward_events(world, world.room)
    awkward_ids = [f"awk_{i}_{text}" for i, text in enumerate(AWKWARD)]
    coded = dict(
        Event.objects.filter(record_id__in=[*ids, *awkward_ids])
        .annotate(code=RecordCode("experiment__public_id", "record_id"))
        .values_list("record_id", "code")
    )
    assert len(coded) == len(ids) + len(awkward_ids)
    assert coded == {rid: record_code(exp, rid) for rid in coded}


def test_a_participants_own_copy_stays_on_the_python_path(world):
    from data_browser.identity import person

    own = Policy.own_copy(world.experiment.public_id, person(world.participant))
    assert not own.in_database
    assert not Policy.full(world.experiment.public_id).in_database


@pytest.mark.parametrize("dt", T.DATA_TYPES, ids=lambda dt: dt.key)
def test_the_api_reads_of_a_coded_reader_equal_the_python_policy(world, dt):
    """The API's JSON page (record codes made in the query) and CSV stream (rows made by the
    database) of a de-identified reader are what the policy makes of the stored records."""
    from dataclasses import replace

    from data_browser import access
    from data_browser.api import records as api
    from data_browser.identity import by_experiment

    hostile_room(world.experiment)
    _awkward_events(world, world.room)
    reader = access.for_user(world.user("collaborator"))
    sel = api.select(reader, dt, "experiment", world.experiment.public_id, api.Params())
    assert sel.policies and api.coded_in_database(sel) and api.rows_possible(sel)
    n = dt.model.objects.filter(experiment=world.experiment).count()
    stored = orjson.loads(api.fetch_json(replace(sel, policies={}), n + 1).data)
    assert len(stored) == n
    expected = by_experiment(sel.policies, dt, stored)

    page = api.fetch_json(sel, n + 1)
    assert orjson.loads(api.deidentified_json(sel, page.data)) == expected
    assert api.deidentified_json(sel, page.data) == orjson.dumps(expected)
    # The CSV is the export's (floats as floats, as in the identified CSV by COPY, where the
    # JSON page's numbers had lost their type): the policy over the stored records.
    qs = dt.model.objects.filter(experiment=world.experiment).order_by("timestamp", "id")
    policy = next(iter(sel.policies.values()))
    written = policy.records(dt, list(T.to_records(dt, T.select(dt, qs))))
    streamed = "".join(csvcells.stream_cells(dt, api.iter_cells(sel)))
    assert streamed == "".join(csvcells.stream(dt, written))
    # From an offset, and a page of a given length, as the CSV pages are read.
    streamed = "".join(csvcells.stream_cells(dt, api.iter_cells(sel, 2, 3)))
    assert streamed == "".join(csvcells.stream(dt, written[2:5]))


def test_room_scrubbers_are_shared_until_what_they_are_made_of_changes(world):
    """Policies of later reads reuse a room's scrubber; a changed participant makes a new one
    (and the new name is scrubbed)."""
    hostile = hostile_room(world.experiment)
    exp, room_id = world.experiment.public_id, hostile.room.public_id
    first, second = Policy.coded(exp), Policy.coded(exp)
    first._read_rooms({room_id})
    second._read_rooms({room_id})
    assert first._scrubbers[room_id] is second._scrubbers[room_id]

    alice = hostile.people[0]
    alice.display_name = "Ottoline Brackenbury"
    alice.save()
    third = Policy.coded(exp)
    third._read_rooms({room_id})
    assert third._scrubbers[room_id] is not first._scrubbers[room_id]
    assert "Ottoline" not in third.room_label(room_id, "Hi Ottoline")
    assert "Ottoline" in first.room_label(room_id, "Hi Ottoline")  # read before the change
