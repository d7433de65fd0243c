"""POST /api/v3/ingest/{dataType}: mixed batches, NDJSON, replays, rights, sizes, bad JSON."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest

from data_browser import datatypes as T
from data_browser.models import AuditEntry, Room

pytestmark = pytest.mark.django_db


@pytest.fixture
def post(client):
    def send(path: str, key: str, body, content_type: str = "application/json"):
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        return client.post(
            f"/api/v3{path}", data, content_type=content_type, headers={"X-API-Key": key}
        )

    return send


def fresh_events(world, api, key, n: int, tag: str) -> list[dict]:
    """Records shaped like the API's, with new ids."""
    data = api(f"/data/events/room/{world.room.public_id}", key, limit=n).json()["data"]
    return [{**e, "id": f"{e['id']}_{tag}"} for e in data]


def test_a_mixed_batch_keeps_the_good_records_and_lists_the_bad(world, make_key, api, post):
    key = make_key()
    good = fresh_events(world, api, key, 3, "new")
    foreign = Room.objects.create(
        public_id="room_foreign", experiment=world.other, started_at=world.room.started_at
    )
    bad = [
        {**good[0], "id": "ev_bad_1", "eventType": None},
        {**good[0], "id": "ev_bad_2", "timestamp": "not a time"},
        {**good[0], "id": "ev_bad_3", "sessionId": foreign.public_id},
        {**good[0], "id": "ev_bad_4", "sessionId": "room_does_not_exist"},
        "not an object",
    ]
    batch = [good[0], bad[0], good[1], bad[1], bad[2], bad[3], good[2], bad[4]]

    r = post("/ingest/events", key, batch)

    assert r.status_code == 200, r.content
    body = r.json()
    assert (body["received"], body["accepted"], body["duplicates"], body["rejected"]) == (
        8,
        3,
        0,
        5,
    )
    by_index = {e["index"]: e for e in body["errors"]}
    assert sorted(by_index) == [1, 3, 4, 5, 7]
    assert "eventType" in by_index[1]["errors"][0]
    assert "timestamp" in by_index[3]["errors"][0]
    # a room of another lab reads exactly like a room that does not exist
    assert by_index[4]["errors"] == ["sessionId: unknown room 'room_foreign'"]
    assert by_index[5]["errors"] == ["sessionId: unknown room 'room_does_not_exist'"]
    stored = set(
        T.EVENTS.model.objects.filter(record_id__in=[g["id"] for g in good]).values_list(
            "record_id", flat=True
        )
    )
    assert stored == {g["id"] for g in good}
    assert not T.EVENTS.model.objects.filter(record_id__startswith="ev_bad_").exists()
    assert AuditEntry.objects.filter(action="data.ingested", rows=3).exists()

    replay = post("/ingest/events", key, batch).json()
    assert (replay["accepted"], replay["duplicates"], replay["rejected"]) == (0, 3, 5)
    assert T.EVENTS.model.objects.filter(record_id__in=stored).count() == 3


def test_ndjson_is_accepted_and_a_bad_line_is_named(world, make_key, api, post):
    key = make_key()
    records = fresh_events(world, api, key, 2, "nd")
    ndjson = b"\n".join(orjson.dumps(r) for r in records) + b"\n"
    r = post("/ingest/events", key, ndjson, "application/x-ndjson")
    assert r.status_code == 200 and r.json()["accepted"] == 2
    broken = orjson.dumps(records[0]) + b"\n{not json\n"
    r = post("/ingest/events", key, broken, "application/x-ndjson")
    assert r.status_code == 400 and "line 2" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    "body,needle",
    [
        (b"[{]", "line 1"),
        (b"", "empty"),
        (b'{"id": "x"}', "array"),
    ],
)
def test_malformed_bodies_are_400(world, make_key, post, body, needle):
    r = post("/ingest/events", make_key(), body)
    assert r.status_code == 400 and needle in r.json()["error"]["message"]


def test_every_type_can_be_ingested_from_what_the_api_returns(world, make_key, api, post):
    key = make_key()
    for dt in T.DATA_TYPES:
        data = api(f"/data/{dt.api_name}/room/{world.room.public_id}", key, limit=2).json()["data"]
        id_name = dt.id_field.name
        copies = [
            {
                **{k: v for k, v in rec.items() if dt.get_field(k).writable},
                id_name: rec[id_name] + "_copy",
            }
            for rec in data
        ]
        r = post(f"/ingest/{dt.api_name}", key, copies)
        assert r.status_code == 200 and r.json()["accepted"] == len(copies), (dt.key, r.json())


def test_write_scope_and_right_are_required(world, make_key, post):
    r = post("/ingest/events", make_key(scopes=("read:events",)), [])
    assert r.status_code == 403 and "write:data" in r.json()["error"]["message"]
    r = post("/ingest/events", make_key("collaborator"), [])
    assert r.status_code == 403
    assert post("/ingest/events", make_key("fullcollab"), []).status_code == 200


def test_closed_experiments_accept_nothing(world, make_key, api, post):
    key = make_key()
    room = Room.objects.filter(experiment=world.archived).first()
    rec = {
        "id": "ev_archived",
        "timestamp": T.iso(room.started_at + timedelta(seconds=1)),
        "sessionId": room.public_id,
        "participantId": room.room_participants.first().participant.public_id,
        "eventType": "state.enter",
    }
    body = post("/ingest/events", key, [rec]).json()
    assert body["accepted"] == 0 and "archived" in body["errors"][0]["errors"][0]


def test_too_large_bodies_are_413(world, make_key, post, settings):
    settings.API_INGEST_MAX_BYTES = 100
    r = post("/ingest/events", make_key(), [{"id": "x" * 200}])
    assert r.status_code == 413 and r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_unknown_ingest_type_is_400(world, make_key, post):
    r = post("/ingest/ratings", make_key(), [])
    assert r.status_code == 400 and "dataType" in r.json()["error"]["message"]


def test_nul_in_references_is_a_record_error_not_a_crash(world, make_key, api, post):
    key = make_key()
    good = fresh_events(world, api, key, 1, "nul")[0]
    batch = [{**good, "sessionId": "room\x00x"}, {**good, "participantId": "user\x00"}]
    body = post("/ingest/events", key, batch).json()
    assert body["rejected"] == 2
    assert all("NUL" in e["errors"][0] for e in body["errors"])
