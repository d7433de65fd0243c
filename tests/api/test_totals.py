"""pagination.total is exact: counted once per scope, and counted again after every write."""

from __future__ import annotations

from datetime import timedelta

import pytest

from data_browser import datatypes as T
from data_browser.governance.deletion import Scope, delete_data
from data_browser.ingest import ingest
from data_browser.models import Event, RoomParticipant
from tests.factories import bulk_events, event_record

pytestmark = pytest.mark.django_db


def total(api, key, path: str, **params) -> int:
    r = api(path, key, limit=1, **params)
    assert r.status_code == 200
    return r.json()["metadata"]["pagination"]["total"]


def test_it_counts_again_after_ingest_and_deletion(
    world, make_key, api, django_capture_on_commit_callbacks
):
    key = make_key("owner")
    room_path = f"/data/events/room/{world.room.public_id}"
    exp_path = f"/data/events/experiment/{world.experiment.public_id}"
    room_before = total(api, key, room_path)
    exp_before = total(api, key, exp_path)
    assert room_before == Event.objects.filter(room=world.room).count()
    assert total(api, key, room_path) == room_before  # served again, unchanged

    member = RoomParticipant.objects.filter(room=world.room).select_related("participant")[0]
    with django_capture_on_commit_callbacks(execute=True):
        result = ingest("events", [event_record(member, "ev_total_new")])
    assert result.accepted == 1
    assert total(api, key, room_path) == room_before + 1
    assert total(api, key, exp_path) == exp_before + 1
    # Filters are part of what is counted.
    later = T.iso(world.room.started_at + timedelta(milliseconds=500))
    assert (
        total(api, key, room_path, startTime=later)
        == Event.objects.filter(
            room=world.room, timestamp__gte=world.room.started_at + timedelta(milliseconds=500)
        ).count()
    )

    with django_capture_on_commit_callbacks(execute=True):
        delete_data(world.user("owner"), Scope(world.experiment, room=world.room))
    assert api(room_path, key).status_code == 404
    assert total(api, key, exp_path) == exp_before + 1 - (room_before + 1)


def test_a_recount_of_records_written_around_ingest_is_served_at_once(
    world, make_key, api, django_capture_on_commit_callbacks
):
    key = make_key("owner")
    exp_path = f"/data/events/experiment/{world.experiment.public_id}"
    before = total(api, key, exp_path)  # counted and kept
    with django_capture_on_commit_callbacks(execute=True):
        bulk_events(world, 3, prefix="recounted")  # bulk_create, then counts.recount
    assert total(api, key, exp_path) == before + 3


@pytest.mark.parametrize(
    ("scope", "on_postgresql", "elsewhere"),
    [
        # the key (with whether it is limited), the memberships, the room, the page
        ("room", 4, 4),
        # the key, the memberships with their experiments, the page, whose statement asks the
        # rooms' earliest start along on PostgreSQL (a query of its own elsewhere)
        ("experiment", 3, 4),
    ],
)
def test_a_page_costs_a_fixed_few_queries_once_its_total_is_known(
    world, make_key, api, scope, on_postgresql, elsewhere
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    queries = on_postgresql if connection.vendor == "postgresql" else elsewhere
    key = make_key("owner")
    scope_id = world.room.public_id if scope == "room" else world.experiment.public_id
    path = f"/data/events/{scope}/{scope_id}"
    assert api(path, key, limit=5).status_code == 200  # counts the total, stamps last use
    with CaptureQueriesContext(connection) as ctx:
        assert api(path, key, limit=5).status_code == 200
    assert len(ctx.captured_queries) == queries, [q["sql"][:70] for q in ctx.captured_queries]
