"""Record counts kept with the records: the unfiltered totals of the API and the dashboard are
read from them, and they equal COUNT(*) after every ingest, deletion and retention run."""

from __future__ import annotations

import importlib
import re
import threading
import time
from datetime import timedelta

import pytest
from django.apps import apps
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from data_browser import counts
from data_browser import datatypes as T
from data_browser.api.keys import create_key
from data_browser.governance.data_requests import create_request, decide_request
from data_browser.governance.deletion import Scope, delete_data
from data_browser.governance.retention import run_retention
from data_browser.identity import participant_code
from data_browser.ingest import ingest
from data_browser.models import (
    Event,
    Experiment,
    Participant,
    RecordCount,
    Room,
    RoomParticipant,
)
from tests.conftest import login_client
from tests.factories import ChatMessageFactory, bulk_events, event_record
from tests.governance.conftest import private_media  # noqa: F401  (a storage of the test's own)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Cached totals are keyed by data versions, which outlive a test's rolled-back data."""
    cache.clear()
    yield
    cache.clear()


def kept() -> dict[tuple, int]:
    """The counts, per data type, experiment, room and participant (rows at zero left out)."""
    return {
        (c.data_type, c.experiment_id, c.room_id, c.participant_id): c.records
        for c in RecordCount.objects.exclude(records=0)
    }


def counted() -> dict[tuple, int]:
    """The same figures counted from the record tables."""
    found = {}
    for dt in T.DATA_TYPES:
        grouped = (
            dt.model.objects.order_by()
            .values_list("experiment_id", "room_id", "participant_id")
            .annotate(n=Count("id"))
        )
        found.update({(dt.key, e, r, p): n for e, r, p, n in grouped})
    return found


def assert_kept_equals_counted() -> None:
    assert kept() == counted()


def members(room: Room) -> list[RoomParticipant]:
    return list(RoomParticipant.objects.filter(room=room).select_related("participant"))


def events(room: Room, people: list[RoomParticipant], n: int, prefix: str) -> list[dict]:
    return [
        {
            "id": f"{prefix}_{i}",
            "timestamp": T.iso(room.started_at + timedelta(seconds=i)),
            "sessionId": room.public_id,
            "participantId": people[i % len(people)].participant.public_id,
            "eventType": "component.start",
        }
        for i in range(n)
    ]


def api_total(client, key: str, path: str, **params) -> int:
    r = client.get(f"/api/v3{path}", {"limit": 1, **params}, headers={"X-API-Key": key})
    assert r.status_code == 200, r.content[:300]
    return r.json()["metadata"]["pagination"]["total"]


def tab_count(client, url: str, dt: T.DataType) -> int:
    body = client.get(url).content.decode()
    found = re.search(rf'data-tab="{dt.key}"[^>]*>[^<]*<span class="count">([\d,]+)</span>', body)
    assert found, url
    return int(found.group(1).replace(",", ""))


def scopes(world) -> list[tuple[str, dict]]:
    """API paths of every scope level with the records each covers."""
    person = members(world.room)[0].participant
    return [
        (f"/data/{{}}/experiment/{world.experiment.public_id}", {"experiment": world.experiment}),
        (f"/data/{{}}/room/{world.room.public_id}", {"room": world.room}),
        (
            f"/data/{{}}/participant/{person.public_id}",
            {"participant": person, "experiment": world.experiment},
        ),
    ]


def assert_totals_are_exact(client, world, key: str) -> None:
    for template, records in scopes(world):
        for dt in T.DATA_TYPES:
            expected = dt.model.objects.filter(**records).count()
            assert api_total(client, key, template.format(dt.api_name)) == expected, (
                template,
                dt.key,
            )


def test_the_demo_goes_through_ingest_and_its_counts_are_exact(world):
    assert_kept_equals_counted()
    assert sum(kept().values()) > 0
    for dt in T.DATA_TYPES:
        expected = dt.model.objects.filter(experiment=world.experiment).count()
        assert counts.total(dt, experiments=[world.experiment.pk]) == expected


def test_totals_of_some_types_read_only_theirs(world, django_assert_num_queries):
    every = counts.totals(experiments=[world.experiment.pk])
    some = counts.totals(experiments=[world.experiment.pk], types=[T.EVENTS, T.CHAT])
    assert some == {"events": every["events"], "chat": every["chat"]}
    assert every["events"] > 0
    with django_assert_num_queries(1) as captured:
        counts.totals(experiments=[world.experiment.pk], types=[T.EVENTS])
    assert "'events'" in captured.captured_queries[0]["sql"]


def test_ingest_adds_what_it_stored_and_a_replay_adds_nothing(
    client, world, django_capture_on_commit_callbacks
):
    _key, key = create_key(world.user("owner"), name="k", scopes=list(T.ALL_SCOPES))
    batch = events(world.room, members(world.room), 30, "ev_counted")
    bad = {"id": "ev_counted_bad", "sessionId": world.room.public_id, "eventType": "x"}
    with django_capture_on_commit_callbacks(execute=True):
        first = ingest("events", [*batch[:20], bad], batch_size=7)
    with django_capture_on_commit_callbacks(execute=True):
        second = ingest("events", batch, batch_size=7)  # 20 already stored, 10 new
    assert (first.accepted, first.rejected) == (20, 1)
    assert (second.accepted, second.duplicates) == (10, 20)
    assert_kept_equals_counted()
    assert_totals_are_exact(client, world, key)


def test_a_record_saved_on_its_own_is_counted(world):
    person = members(world.room)[0].participant
    ChatMessageFactory(experiment=world.experiment, room=world.room, participant=person)
    assert_kept_equals_counted()


def test_a_rolled_back_ingest_changes_no_count(world):
    before = kept()
    with pytest.raises(RuntimeError), transaction.atomic():
        result = ingest("events", events(world.room, members(world.room), 12, "ev_undone"))
        assert result.accepted == 12 and kept() != before
        raise RuntimeError("the caller's transaction fails after the ingest")
    assert kept() == before
    assert_kept_equals_counted()


def test_an_unfiltered_page_after_an_ingest_reads_its_total_and_counts_nothing(
    client, world, django_capture_on_commit_callbacks
):
    _key, key = create_key(world.user("owner"), name="k", scopes=list(T.ALL_SCOPES))
    path = f"/data/events/experiment/{world.experiment.public_id}"
    before = api_total(client, key, path)
    with django_capture_on_commit_callbacks(execute=True):
        ingest("events", events(world.room, members(world.room), 1, "ev_live"))
    with CaptureQueriesContext(connection) as ctx:
        assert api_total(client, key, path) == before + 1
    sql = [q["sql"] for q in ctx.captured_queries]
    assert not [s for s in sql if 'COUNT(*) AS "__count"' in s], sql  # no QuerySet.count()
    assert [s for s in sql if RecordCount._meta.db_table in s]
    # A filter narrows the scope: that total is counted (and exact).
    later = world.room.started_at + timedelta(seconds=2)
    assert (
        api_total(client, key, path, startTime=T.iso(later))
        == Event.objects.filter(experiment=world.experiment, timestamp__gte=later).count()
    )


@pytest.mark.usefixtures("private_media")
def test_deleting_a_participant_a_room_and_an_experiment_keeps_the_totals_exact(
    client, world, django_capture_on_commit_callbacks
):
    owner = world.user("owner")
    _key, key = create_key(owner, name="k", scopes=list(T.ALL_SCOPES))
    rooms = list(Room.objects.filter(experiment=world.experiment).order_by("started_at"))
    target = next(rp.participant for rp in members(rooms[1]) if rp.participant != world.participant)
    with django_capture_on_commit_callbacks(execute=True):
        delete_data(owner, Scope(world.experiment, participant=target))
    assert_kept_equals_counted()
    assert_totals_are_exact(client, world, key)

    with django_capture_on_commit_callbacks(execute=True):
        delete_data(owner, Scope(world.experiment, room=rooms[-1]))
    assert_kept_equals_counted()
    assert_totals_are_exact(client, world, key)

    with django_capture_on_commit_callbacks(execute=True):
        delete_data(owner, Scope(world.experiment))
    assert_kept_equals_counted()
    assert counts.totals(experiments=[world.experiment.pk]) == dict.fromkeys(T.BY_KEY, 0)
    path = f"/data/events/experiment/{world.experiment.public_id}"
    assert api_total(client, key, path) == 0


@pytest.mark.usefixtures("private_media")
def test_an_approved_deletion_request_and_the_retention_run_keep_them_exact(
    world, django_capture_on_commit_callbacks
):
    Experiment.objects.filter(pk=world.experiment.pk).update(allow_participant_requests=True)
    world.experiment.refresh_from_db()
    request = create_request(world.user("participant"), world.experiment, "deletion")
    with django_capture_on_commit_callbacks(execute=True):
        decide_request(world.user("owner"), request, approve=True)
    assert not Event.objects.filter(participant=world.participant).exists()
    assert_kept_equals_counted()

    today = world.solo.created_at.date() + timedelta(days=400)
    Experiment.objects.filter(pk=world.solo.pk).update(retention_until=today - timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=True):
        run = run_retention(today=today)
    assert world.solo.public_id in run.deleted
    assert_kept_equals_counted()
    assert counts.totals(experiments=[world.solo.pk]) == dict.fromkeys(T.BY_KEY, 0)


def test_rooms_participants_and_experiments_deleted_take_their_counts_along(world):
    """What the admin (an experiment) or a cascade deletes, the counts' foreign keys follow."""
    room = Room.objects.filter(experiment=world.experiment).order_by("-started_at")[0]
    room.delete()
    assert not RecordCount.objects.filter(room=room.pk).exists()
    person = members(world.room)[-1].participant
    Participant.objects.filter(pk=person.pk).delete()
    world.solo.delete()
    assert_kept_equals_counted()


def test_the_dashboard_tabs_and_match_line_read_the_counts(client, world):
    login_client(client, world, "owner")
    exp = world.experiment.public_id
    bulk_events(world, 7, prefix="tabs")  # written around ingest, counted again by the helper
    data = reverse("data_browser:experiment_data", args=[exp])
    room_data = reverse("data_browser:room_data", args=[exp, world.room.public_id])
    for url, records in (
        (data, {"experiment": world.experiment}),
        (room_data, {"room": world.room}),
    ):
        for dt in T.DATA_TYPES:
            assert tab_count(client, url, dt) == dt.model.objects.filter(**records).count()
    body = client.get(data, {"tab": "events", "eventType": "rating.change"}).content.decode()
    matched = Event.objects.filter(experiment=world.experiment, event_type="rating.change")
    total = Event.objects.filter(experiment=world.experiment).count()
    assert f"<strong>{matched.count():,}</strong> of {total:,} events match" in body


def test_the_tab_counts_are_read_once_and_again_after_ingest(
    client, world, django_capture_on_commit_callbacks
):
    login_client(client, world, "owner")
    data = reverse("data_browser:experiment_data", args=[world.experiment.public_id])
    before = tab_count(client, data, T.EVENTS)
    with CaptureQueriesContext(connection) as queries:
        assert tab_count(client, data, T.EVENTS) == before
    kept_table = RecordCount._meta.db_table
    assert not [q for q in queries.captured_queries if kept_table in q["sql"]]
    member = RoomParticipant.objects.filter(room=world.room).select_related("participant")[0]
    with django_capture_on_commit_callbacks(execute=True):
        assert ingest("events", [event_record(member, "ev_tab_count")]).accepted == 1
    assert tab_count(client, data, T.EVENTS) == before + 1


def test_a_participant_account_reads_the_counts_of_its_own_records(client, world):
    login_client(client, world, "participant")
    exp, room = world.experiment.public_id, world.room.public_id
    code = participant_code(exp, world.participant.public_id)
    own = reverse("data_browser:participant", args=[exp, room, code])
    room_data = reverse("data_browser:room_data", args=[exp, room])
    mine = {"room": world.room, "participant": world.participant}
    for url in (own, room_data):
        for dt in T.DATA_TYPES:
            assert tab_count(client, url, dt) == dt.model.objects.filter(**mine).count()


def test_the_command_counts_again_what_was_written_around_ingest(world):
    with connection.cursor() as cursor:  # records a database shell would add
        cursor.execute(
            f"DELETE FROM {Event._meta.db_table} WHERE id IN "
            f"(SELECT id FROM {Event._meta.db_table} WHERE room_id = %s LIMIT 5)",
            [world.room.pk],
        )
    assert kept() != counted()
    call_command("recount_records", world.experiment.public_id, verbosity=0)
    assert_kept_equals_counted()
    RecordCount.objects.all().delete()
    call_command("recount_records", verbosity=0)
    assert_kept_equals_counted()


def test_the_command_names_an_unknown_experiment(world):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="exp_nowhere"):
        call_command("recount_records", "exp_nowhere", verbosity=0)


def test_the_migration_fills_the_counts_of_existing_records(world):
    migration = importlib.import_module("data_browser.migrations.0004_record_counts")
    RecordCount.objects.all().delete()
    migration.count_existing_records(apps, None)
    assert_kept_equals_counted()


# Concurrency: two ingests at once into the same rows of the counts (PostgreSQL, two threads
# with a connection each, committed for real).


def _ingest_in_thread(
    batch: list[dict], errors: list, *, before=None, hold=None, batch_size: int | None = None
) -> threading.Thread:
    """``ingest`` on a connection of its own; ``hold`` runs inside the caller's transaction
    around it, before that commits (no transaction around it without ``hold``)."""

    def run() -> None:
        try:
            if before is not None:
                before()
            if hold is None:
                ingest("events", batch, batch_size=batch_size)
            else:
                with transaction.atomic():
                    ingest("events", batch, batch_size=batch_size)
                    hold()
        except Exception as exc:  # reported by the test
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _waiting_for_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.postgres
def test_an_ingest_waiting_on_another_adds_to_what_that_one_committed(transactional_db, world):
    """A holds the counts of the room's participants until it commits; B, ingesting into the
    same rows meanwhile, waits on A's row locks and then adds to A's figures."""
    people = members(world.room)
    before = counts.total(T.EVENTS, room=world.room.pk)
    a_wrote, release, errors = threading.Event(), threading.Event(), []

    def hold() -> None:
        a_wrote.set()
        assert release.wait(60)

    a = _ingest_in_thread(events(world.room, people, 40, "ev_a"), errors, hold=hold)
    assert a_wrote.wait(60)
    b = _ingest_in_thread(events(world.room, people, 25, "ev_b"), errors)
    deadline = time.monotonic() + 60
    while not _waiting_for_a_lock():
        assert time.monotonic() < deadline, "B never waited for A"
        time.sleep(0.05)
    release.set()
    a.join(60)
    b.join(60)
    assert not errors
    assert counts.total(T.EVENTS, room=world.room.pk) == before + 65
    assert Event.objects.filter(room=world.room).count() == before + 65
    assert_kept_equals_counted()


@pytest.mark.postgres
def test_two_ingests_at_once_lose_no_increment(transactional_db, world):
    """Batches of ten from two ingests at once, interleaved, into the same rows."""
    people = members(world.room)
    before = counts.total(T.EVENTS, room=world.room.pk)
    start, errors = threading.Barrier(2), []
    threads = [
        _ingest_in_thread(
            events(world.room, people, 300, f"ev_race{n}"),
            errors,
            before=lambda: start.wait(60),
            batch_size=10,
        )
        for n in range(2)
    ]
    for thread in threads:
        thread.join(120)
    assert not errors
    assert counts.total(T.EVENTS, room=world.room.pk) == before + 600
    assert Event.objects.filter(room=world.room).count() == before + 600
    assert_kept_equals_counted()
