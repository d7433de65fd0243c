"""Every error the data endpoints give: 400 naming the parameter, 401, 403, 404, 429."""

from __future__ import annotations

import pytest

from data_browser.models import Room

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "params,parameter",
    [
        ({"limit": "x"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "10001"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"offset": "ten"}, "offset"),
        ({"startTime": "yesterday"}, "startTime"),
        ({"endTime": "2024-13-45T00:00:00Z"}, "endTime"),
        ({"sort": "name"}, "sort"),
        ({"order": "up"}, "order"),
        ({"format": "xml"}, "format"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"offset": "5", "cursor": "x"}, "cursor"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(world, make_key, api, params, parameter):
    r = api(f"/data/events/room/{world.room.public_id}", make_key(), **params)
    assert r.status_code == 400
    body = r.json()
    assert body["error"] == "bad_request"
    assert parameter in body["message"]
    assert [p["parameter"] for p in body["parameters"]] == [parameter]


def test_a_cursor_cannot_change_sort_or_be_combined_with_offset(world, make_key, api):
    key = make_key()
    path = f"/data/events/room/{world.room.public_id}"
    cursor = api(path, key, limit=5).json()["metadata"]["pagination"]["nextCursor"]
    r = api(path, key, cursor=cursor, sort="onset")
    assert r.status_code == 400 and "cursor" in r.json()["message"]
    r = api(path, key, cursor=cursor, offset=10)
    assert r.status_code == 400 and "offset" in r.json()["message"]
    assert api(path, key, cursor=cursor[:-2] + "xx").status_code == 400


def test_unknown_scope_and_data_type_are_400(world, make_key, api):
    key = make_key()
    r = api(f"/data/events/lab/{world.room.public_id}", key)
    assert r.status_code == 400 and "scope" in r.json()["message"]
    r = api(f"/data/ratings/room/{world.room.public_id}", key)
    assert r.status_code == 400 and "dataType" in r.json()["message"]
    assert "ratings/continuous" in r.json()["message"]


def test_room_id_must_agree_with_a_room_scope(world, make_key, api):
    other = Room.objects.filter(experiment=world.experiment).exclude(pk=world.room.pk).first()
    r = api(f"/data/events/room/{world.room.public_id}", make_key(), roomId=other.public_id)
    assert r.status_code == 400 and "roomId" in r.json()["message"]


@pytest.mark.parametrize("header", [None, "", "garbage", "hst_live_" + "A" * 40])
def test_missing_or_invalid_keys_get_the_same_401(world, api, make_key, header):
    valid = make_key()
    wrong_secret = valid[:-4] + ("AAAA" if not valid.endswith("AAAA") else "BBBB")
    expected = api(f"/data/events/room/{world.room.public_id}", wrong_secret)
    r = api(f"/data/events/room/{world.room.public_id}", header)
    assert r.status_code == 401 == expected.status_code
    assert r.content == expected.content
    assert r.json()["error"] == "unauthorized"


def test_scope_missing_from_the_key_is_a_403_naming_it(world, make_key, api):
    key = make_key(scopes=("read:events",))
    assert api(f"/data/events/room/{world.room.public_id}", key).status_code == 200
    r = api(f"/data/chat/room/{world.room.public_id}", key)
    assert r.status_code == 403
    assert "read:chat" in r.json()["message"] and r.json()["requiredScope"] == "read:chat"
    r = api(f"/data/ratings/sparse/room/{world.room.public_id}", key)
    assert r.status_code == 403 and "read:ratings" in r.json()["message"]


def test_unknown_and_out_of_reach_ids_are_404(world, make_key, api):
    key = make_key()
    assert api("/data/events/room/room_nope", key).status_code == 404
    assert api("/data/events/experiment/exp_nope", key).status_code == 404
    assert api("/data/events/participant/user_nope", key).status_code == 404
    # another lab's experiment exists but is not the owner's
    r = api(f"/data/events/experiment/{world.other.public_id}", key)
    assert r.status_code == 404
    assert r.content == api("/data/events/experiment/exp_nope", key).content
    # a participant who is not in the given room
    other_room = Room.objects.filter(experiment=world.solo).first()
    r = api(
        f"/data/events/participant/{world.participant.public_id}",
        key,
        roomId=other_room.public_id,
    )
    assert r.status_code == 404
    # a room of another experiment as filter of an experiment scope
    r = api(
        f"/data/events/experiment/{world.experiment.public_id}",
        key,
        roomId=other_room.public_id,
    )
    assert r.status_code == 404


def test_key_restricted_to_experiments_sees_only_those(world, make_key, api):
    key = make_key(experiments=[world.solo])
    solo_room = Room.objects.filter(experiment=world.solo).first()
    assert api(f"/data/events/room/{solo_room.public_id}", key).status_code == 200
    assert api(f"/data/events/room/{world.room.public_id}", key).status_code == 404
    r = api(f"/data/events/experiment/{world.experiment.public_id}", key)
    assert r.status_code == 404


def test_too_many_requests_per_key_is_429_with_retry_after(world, make_key, api, settings):
    settings.API_RATE_LIMIT_PER_KEY = 3
    key = make_key()
    path = f"/data/events/room/{world.room.public_id}"
    statuses = [api(path, key, limit=1).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    r = api(path, key, limit=1)
    assert r.status_code == 429
    assert 1 <= int(r["Retry-After"]) <= 60
    assert r.json()["error"] == "rate_limited"
    # another key of the same user has its own budget
    assert api(path, make_key(), limit=1).status_code == 200


def test_too_many_requests_per_address_is_429(world, make_key, api, settings):
    settings.API_RATE_LIMIT_PER_ADDRESS = 2
    path = f"/data/events/room/{world.room.public_id}"
    assert [api(path, make_key(), limit=1).status_code for _ in range(3)] == [200, 200, 429]


def test_failed_authentications_are_limited_harder(world, make_key, api, settings):
    settings.API_RATE_LIMIT_FAILED_AUTH = 5
    path = f"/data/events/room/{world.room.public_id}"
    statuses = [api(path, "hst_live_guess").status_code for _ in range(7)]
    assert statuses == [401] * 5 + [429] * 2
    # while blocked, even a valid key from that address waits
    r = api(path, make_key(), limit=1)
    assert r.status_code == 429 and r["Retry-After"]


def test_ids_no_id_can_be_are_400(world, make_key, api):
    key = make_key()
    r = api("/data/events/room/room%00x", key)
    assert r.status_code == 400 and "scopeId" in r.json()["message"]
    r = api(f"/data/events/participant/{world.participant.public_id}", key, roomId="r\x00")
    assert r.status_code == 400 and "roomId" in r.json()["message"]
    assert api("/data/events/room/" + "r" * 300, key).status_code == 400
