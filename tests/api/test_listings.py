"""The later edition's rooms and participants endpoints, NDJSON, and the per-type filters,
for every export right."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import orjson
import pytest

from data_browser import datatypes as T
from data_browser.identity import participant_code
from data_browser.models import ComponentSnapshot, Event, Room, RoomParticipant, SyncMetric
from tests.factories import ParticipantFactory, RoomFactory, RoomParticipantFactory

from .test_identity import identifiers

pytestmark = pytest.mark.django_db

ROW_LEVEL = ("owner", "fullcollab", "collaborator")
NO_RECORDS = ("aggcollab", "viewer")


def test_rooms_of_an_experiment(world, make_key, api):
    r = api(f"/data/rooms/experiment/{world.experiment.public_id}", make_key())
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["status"] == "success" and body["metadata"]["dataType"] == "rooms"
    rooms = Room.objects.filter(experiment=world.experiment)
    assert body["metadata"]["pagination"]["total"] == rooms.count()
    by_id = {rec["roomId"]: rec for rec in body["data"]}
    assert set(by_id) == set(rooms.values_list("public_id", flat=True))
    starts = [rec["startTime"] for rec in body["data"]]
    assert starts == sorted(starts)
    for room in rooms:
        rec = by_id[room.public_id]
        assert list(rec) == T.ROOMS.field_names
        assert rec["participantCount"] == room.room_participants.count() > 0
        assert rec["status"] == room.status and rec["experimentId"] == world.experiment.public_id
        assert rec["startTime"] == T.iso(room.started_at)
        if room.ended_at:
            assert rec["duration"] == (room.ended_at - room.started_at).total_seconds() * 1000


def test_participants_of_a_room_and_an_experiment_with_the_full_right(world, make_key, api):
    key = make_key("fullcollab")
    r = api(f"/data/participants/room/{world.room.public_id}", key)
    assert r.status_code == 200, r.content
    data = r.json()["data"]
    expected = RoomParticipant.objects.filter(room=world.room).select_related("participant")
    assert {d["participantId"] for d in data} == {rp.participant.public_id for rp in expected}
    for d in data:
        rp = next(x for x in expected if x.participant.public_id == d["participantId"])
        assert list(d) == T.PARTICIPANTS.field_names
        assert d["name"] == rp.participant.display_name and d["email"] == rp.participant.email
        assert (
            d["role"] == rp.role and d["status"] == rp.status and d["roomId"] == rp.room.public_id
        )
        assert d["joinedAt"] == T.iso(rp.joined_at)
        completed = rp.room.ended_at if rp.status == "completed" else None
        assert d["completedAt"] == T.iso(completed)
    r = api(f"/data/participants/experiment/{world.experiment.public_id}", key, limit=3)
    meta = r.json()["metadata"]["pagination"]
    total = RoomParticipant.objects.filter(room__experiment=world.experiment).count()
    assert meta == {
        "total": total,
        "returned": 3,
        "hasMore": True,
        "nextOffset": 3,
        "nextCursor": None,
    }


def test_a_deidentified_participants_answer_leaks_nothing(world, make_key, api):
    key = make_key("collaborator")
    secrets = identifiers(world)
    path = f"/data/participants/experiment/{world.experiment.public_id}"
    for params in ({}, {"format": "csv"}, {"format": "ndjson"}, {"sort": "participantId"}):
        r = (
            api(path, key, limit=10000, **params)
            if "format" not in params
            else api(path, key, **params)
        )
        assert r.status_code == 200, r.content
        text = b"".join(r.streaming_content if r.streaming else [r.content]).decode()
        leaked = [s for s in secrets if s in text]
        assert not leaked, (params, leaked[:3])
    data = api(path, key, sort="participantId", limit=10000).json()["data"]
    codes = [d["participantId"] for d in data]
    assert codes == sorted(codes) and all(c.startswith("anon_") for c in codes)
    assert all(d["name"] is None and d["email"] is None for d in data)
    expected = {
        participant_code(world.experiment.public_id, p)
        for p in RoomParticipant.objects.filter(room__experiment=world.experiment).values_list(
            "participant__public_id", flat=True
        )
    }
    assert set(codes) == expected
    # the code addresses the participant's records, as on the data endpoints
    r = api(f"/data/events/participant/{codes[0]}", key, limit=1)
    assert r.status_code == 200 and r.json()["data"]


@pytest.mark.postgres
@pytest.mark.parametrize("listing", [T.ROOMS, T.PARTICIPANTS], ids=lambda t: t.api_name)
def test_a_listing_built_by_postgres_equals_the_python_records(
    world, make_key, api, monkeypatch, listing
):
    """The full right's page is built by PostgreSQL: the same records (durations rounded as
    Python rounds, half to even; times with microseconds cut to milliseconds) and metadata."""
    from data_browser.api import listings

    start = world.room.started_at.replace(microsecond=123456)
    for i, (ended, status) in enumerate(
        (
            (timedelta(microseconds=1500), RoomParticipant.Status.COMPLETED),
            (timedelta(microseconds=2500), RoomParticipant.Status.ACTIVE),
            (timedelta(minutes=20, microseconds=499), RoomParticipant.Status.DISCONNECTED),
            (None, RoomParticipant.Status.COMPLETED),
        )
    ):
        room = RoomFactory(
            experiment=world.experiment,
            public_id=f"room_edge{i}",
            started_at=start + timedelta(seconds=i),
            ended_at=None if ended is None else start + timedelta(seconds=i) + ended,
        )
        person = ParticipantFactory(display_name='Zoë "Q"\nÅngström 🙂', email="")
        joined = None if i == 3 else room.started_at
        RoomParticipantFactory(room=room, participant=person, status=status, joined_at=joined)
    key = make_key("fullcollab")
    path = f"/data/{listing.api_name}/experiment/{world.experiment.public_id}"

    def pages(**params) -> list[dict]:
        built = api(path, key, **params).json()
        with monkeypatch.context() as m:
            m.setattr(listings, "_built_page", listings._python_page)
            python = api(path, key, **params).json()
        assert built["data"] == python["data"], params
        for part in ("pagination", "query"):
            assert built["metadata"][part] == python["metadata"][part]
        started = built["metadata"]["processing"]["experimentStartedAt"]
        assert started == python["metadata"]["processing"]["experimentStartedAt"]
        return built["data"]

    every = pages(limit=10000)
    assert every and all(list(rec) == listing.field_names for rec in every)
    for sort in listing.sorts:
        assert len(pages(sort=sort, order="desc", limit=3, offset=2)) == 3
    # the last page, and one past the end (the total is then counted, not read off the page)
    assert len(pages(limit=3, offset=len(every) - 1)) == 1
    assert pages(offset=len(every) + 5) == []
    if listing is T.ROOMS:
        durations = {r["roomId"]: r["duration"] for r in every}
        assert [durations[f"room_edge{i}"] for i in range(4)] == [2, 2, 1_200_000, None]


@pytest.mark.parametrize("role", NO_RECORDS)
def test_aggregate_and_no_export_right_get_403(world, make_key, api, role):
    key = make_key(role)
    for path in (
        f"/data/rooms/experiment/{world.experiment.public_id}",
        f"/data/participants/experiment/{world.experiment.public_id}",
        f"/data/participants/room/{world.room_ref(role)}",
    ):
        r = api(path, key)
        assert r.status_code == 403, (path, r.content)
        assert r.json()["error"]["code"] == "FORBIDDEN"
        assert r.json()["error"]["details"]["requiredRight"] == "deidentified"


def test_listings_need_read_events_and_a_reachable_scope(world, make_key, api):
    key = make_key(scopes=("read:chat",))
    r = api(f"/data/rooms/experiment/{world.experiment.public_id}", key)
    assert r.status_code == 403
    assert r.json()["error"]["details"]["requiredScopes"] == ["read:events"]
    key = make_key()
    assert api(f"/data/rooms/experiment/{world.other.public_id}", key).status_code == 404
    assert api("/data/participants/room/room_nope", key).status_code == 404
    assert api(f"/data/participants/participant/{world.room.public_id}", key).status_code == 400
    r = api(f"/data/rooms/experiment/{world.experiment.public_id}", key, sort="email")
    assert r.status_code == 400 and r.json()["error"]["details"]["parameter"] == "sort"
    r = api(f"/data/rooms/experiment/{world.experiment.public_id}", key, startTime="x")
    assert r.status_code == 400 and r.json()["error"]["details"]["parameter"] == "startTime"


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_listings_as_files(world, make_key, api, fmt):
    r = api(f"/data/rooms/experiment/{world.experiment.public_id}", make_key(), format=fmt)
    assert r.status_code == 200
    text = b"".join(r.streaming_content).decode()
    count = Room.objects.filter(experiment=world.experiment).count()
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0] == T.ROOMS.field_names and len(rows) == count + 1
    else:
        assert r["Content-Type"] == "application/x-ndjson"
        records = [orjson.loads(line) for line in text.splitlines()]
        assert len(records) == count and all(list(rec) == T.ROOMS.field_names for rec in records)


@pytest.mark.parametrize("dt", T.DATA_TYPES, ids=lambda dt: dt.key)
def test_ndjson_on_every_data_endpoint(world, make_key, api, dt):
    key = make_key()
    path = f"/data/{dt.api_name}/room/{world.room.public_id}"
    r = api(path, key, format="ndjson")
    assert r.status_code == 200 and r["Content-Type"] == "application/x-ndjson"
    lines = b"".join(r.streaming_content).decode().splitlines()
    records = [orjson.loads(line) for line in lines]
    expected = api(path, key, limit=10000).json()["data"]
    if dt is not T.RECORDINGS:  # signed links carry the second they were made
        assert records == expected
    assert [rec[dt.id_field.name] for rec in records] == [e[dt.id_field.name] for e in expected]
    page = api(path, key, format="ndjson", limit=2)
    assert len(b"".join(page.streaming_content).splitlines()) == min(2, len(expected))


@pytest.mark.parametrize("role", ROW_LEVEL)
def test_the_category_filter_keeps_one_category(world, make_key, api, role):
    key = make_key(role)
    path = f"/data/events/experiment/{world.experiment.public_id}"
    for category in T.EVENT_CATEGORIES:
        r = api(path, key, category=category, limit=10000)
        assert r.status_code == 200, r.content
        data = r.json()["data"]
        expected = Event.objects.filter(experiment=world.experiment, category=category).count()
        assert len(data) == expected == r.json()["metadata"]["pagination"]["total"] > 0
        assert {d["category"] for d in data} == {category}
        assert r.json()["metadata"]["query"]["category"] == category
    r = api(path, key, category="nonsense")
    assert r.status_code == 400 and r.json()["error"]["details"]["parameter"] == "category"
    assert "media" in r.json()["error"]["details"]["expected"]


def test_events_without_a_category_count_by_their_type(world, make_key, api):
    Event.objects.filter(room=world.room, event_type="media.play").update(category="")
    key = make_key()
    data = api(f"/data/events/room/{world.room.public_id}", key, category="media", limit=10000)
    types = {d["eventType"] for d in data.json()["data"]}
    assert "media.play" in types and types <= {"media.play", "media.pause"}


@pytest.mark.parametrize("role", ROW_LEVEL)
def test_component_filters(world, make_key, api, role):
    key = make_key(role)
    path = f"/data/components/experiment/{world.experiment.public_id}"
    snap = ComponentSnapshot.objects.filter(experiment=world.experiment).first()
    r = api(path, key, componentType=snap.component_type, limit=10000)
    expected = ComponentSnapshot.objects.filter(
        experiment=world.experiment, component_type=snap.component_type
    ).count()
    assert len(r.json()["data"]) == expected > 0
    assert {d["componentType"] for d in r.json()["data"]} == {snap.component_type}
    r = api(path, key, stateId=snap.state_id, componentType=snap.component_type, limit=10000)
    assert {(d["stateId"], d["componentType"]) for d in r.json()["data"]} == {
        (snap.state_id, snap.component_type)
    }
    assert api(path, key, stateId="no_such_state").json()["data"] == []


@pytest.mark.parametrize("role", ROW_LEVEL)
def test_sync_aggregation_window_averages_per_window_and_participant(world, make_key, api, role):
    key = make_key(role)
    window = 5000
    path = f"/data/sync/room/{world.room_ref(role)}"
    r = api(path, key, aggregationWindow=window, limit=10000)
    assert r.status_code == 200, r.content
    data = r.json()["data"]
    samples = SyncMetric.objects.filter(room=world.room).exclude(onset=None)
    groups: dict = {}
    for m in samples.select_related("participant"):
        groups.setdefault((m.participant.public_id, m.onset // window), []).append(m)
    assert len(data) == len(groups) == r.json()["metadata"]["pagination"]["total"]
    assert sum(d["samples"] for d in data) == samples.count()
    for d in data:
        pid = d["participantId"]
        if role == "collaborator":
            assert pid.startswith("anon_")
            pid = next(
                p for p, _w in groups if participant_code(world.experiment.public_id, p) == pid
            )
        members = groups[(pid, d["onset"] // window)]
        assert d["onset"] % window == 0 and d["windowMs"] == window
        assert d["samples"] == len(members)
        assert d["syncQuality"] == pytest.approx(
            sum(m.sync_quality for m in members) / len(members)
        )
    onsets = [d["onset"] for d in data]
    assert onsets == sorted(onsets)
    r = api(path, key, aggregationWindow=0)
    assert r.status_code == 400 and r.json()["error"]["details"]["parameter"] == "aggregationWindow"
    csv_text = b"".join(api(path, key, aggregationWindow=window, format="csv").streaming_content)
    assert csv_text.decode().count("\n") == len(groups) + 1


@pytest.mark.parametrize("role", NO_RECORDS)
@pytest.mark.parametrize(
    ("api_name", "params"),
    [
        ("events", {"category": "media"}),
        ("events", {"format": "ndjson"}),
        ("components", {"componentType": "ShowVideo", "stateId": "intro"}),
        ("sync", {"aggregationWindow": "1000"}),
        ("sync", {"aggregationWindow": "1000", "format": "csv"}),
    ],
)
def test_new_parameters_need_the_row_level_right_too(world, make_key, api, role, api_name, params):
    r = api(f"/data/{api_name}/experiment/{world.experiment.public_id}", make_key(role), **params)
    assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"
    assert r.json()["error"]["details"]["requiredRight"] == "deidentified"
