"""Every error the data endpoints give: 400 naming the parameter, 401, 403, 404, 429."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from data_browser.api import auth, keys, ratelimit
from data_browser.models import Room

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _one_window(monkeypatch):
    """The limits count in fixed windows of the clock; a test's requests all fall in one
    minute and one hour (the first second of the next hour), however slow the machine."""
    pinned = (int(time.time()) // 3600 + 1) * 3600 + 1
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: pinned))


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
        ({"onsetFrom": "soon"}, "onsetFrom"),
        ({"onsetTo": "9.223372036854776e+18"}, "onsetTo"),
        ({"issue": "everything"}, "issue"),
        ({"category": "sound"}, "category"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(world, make_key, api, params, parameter):
    r = api(f"/data/events/room/{world.room.public_id}", make_key(), **params)
    assert r.status_code == 400
    body = r.json()
    assert body["error"]["code"] == "INVALID_PARAMETER"
    assert parameter in body["error"]["message"]
    assert body["status"] == "error" and body["error"]["details"]["parameter"] == parameter
    assert set(body["error"]["details"]) >= {"parameter", "value", "expected"}


def test_a_cursor_cannot_change_sort_or_be_combined_with_offset(world, make_key, api):
    key = make_key()
    path = f"/data/events/room/{world.room.public_id}"
    cursor = api(path, key, limit=5).json()["metadata"]["pagination"]["nextCursor"]
    r = api(path, key, cursor=cursor, sort="onset")
    assert r.status_code == 400 and "cursor" in r.json()["error"]["message"]
    r = api(path, key, cursor=cursor, offset=10)
    assert r.status_code == 400 and "offset" in r.json()["error"]["message"]
    assert api(path, key, cursor=cursor[:-2] + "xx").status_code == 400


def test_unknown_scope_and_data_type_are_400(world, make_key, api):
    key = make_key()
    r = api(f"/data/events/lab/{world.room.public_id}", key)
    assert r.status_code == 400 and "scope" in r.json()["error"]["message"]
    r = api(f"/data/ratings/room/{world.room.public_id}", key)
    assert r.status_code == 400 and "dataType" in r.json()["error"]["message"]
    assert "ratings/continuous" in r.json()["error"]["message"]


def test_room_id_must_agree_with_a_room_scope(world, make_key, api):
    other = Room.objects.filter(experiment=world.experiment).exclude(pk=world.room.pk).first()
    r = api(f"/data/events/room/{world.room.public_id}", make_key(), roomId=other.public_id)
    assert r.status_code == 400 and "roomId" in r.json()["error"]["message"]


@pytest.mark.parametrize("header", [None, "", "garbage", "hst_live_" + "A" * 40])
def test_missing_or_invalid_keys_get_the_same_401(world, api, make_key, header):
    valid = make_key()
    wrong_secret = valid[:-4] + ("AAAA" if not valid.endswith("AAAA") else "BBBB")
    expected = api(f"/data/events/room/{world.room.public_id}", wrong_secret)
    r = api(f"/data/events/room/{world.room.public_id}", header)
    assert r.status_code == 401 == expected.status_code
    assert r.content == expected.content
    assert r.json()["error"]["code"] == "UNAUTHORIZED"


def test_scope_missing_from_the_key_is_a_403_naming_it(world, make_key, api):
    key = make_key(scopes=("read:events",))
    assert api(f"/data/events/room/{world.room.public_id}", key).status_code == 200
    r = api(f"/data/chat/room/{world.room.public_id}", key)
    assert r.status_code == 403
    error = r.json()["error"]
    assert "read:chat" in error["message"] and error["details"]["requiredScopes"] == ["read:chat"]
    r = api(f"/data/ratings/sparse/room/{world.room.public_id}", key)
    assert r.status_code == 403 and "read:ratings" in r.json()["error"]["message"]


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
    assert r.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    # the key's request count (its usage counters, counted with the limits) has the answered
    assert auth.request_count(keys.authenticate(key)) == 3
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
    assert r.status_code == 400 and "scopeId" in r.json()["error"]["message"]
    r = api(f"/data/events/participant/{world.participant.public_id}", key, roomId="r\x00")
    assert r.status_code == 400 and "roomId" in r.json()["error"]["message"]
    assert api("/data/events/room/" + "r" * 300, key).status_code == 400


def test_every_error_has_the_documented_shape(world, make_key, api):
    key = make_key(scopes=("read:events",))
    room = world.room.public_id
    answers = {
        "INVALID_PARAMETER": api(f"/data/events/room/{room}", key, startTime="invalid-date"),
        "UNAUTHORIZED": api(f"/data/events/room/{room}", "hst_live_nope"),
        "FORBIDDEN": api(f"/data/chat/room/{room}", key),
        "NOT_FOUND": api("/data/events/room/room_nope", key),
    }
    for code, r in answers.items():
        body = r.json()
        assert set(body) == {"status", "error"} and body["status"] == "error", body
        assert set(body["error"]) == {"code", "message", "details"}
        assert body["error"]["code"] == code and body["error"]["message"]
    # the overview's own example: a bad startTime
    details = answers["INVALID_PARAMETER"].json()["error"]["details"]
    assert details == {
        "parameter": "startTime",
        "value": "invalid-date",
        "expected": "ISO 8601 timestamp",
    }
    details = answers["FORBIDDEN"].json()["error"]["details"]
    assert details == {"requiredScopes": ["read:chat"], "providedScopes": ["read:events"]}


def test_an_unknown_query_parameter_is_a_400_naming_it(world, make_key, api):
    key = make_key()
    path = f"/data/events/room/{world.room.public_id}"
    r = api(path, key, limit=5, catgory="media")
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "INVALID_PARAMETER" and "catgory" in error["message"]
    assert error["details"]["parameter"] == "catgory" and error["details"]["value"] == "media"
    assert "limit" in error["details"]["expected"]
    # a filter of another data type is not a parameter of this one
    r = api(f"/data/chat/room/{world.room.public_id}", key, componentType="ShowVideo")
    assert r.status_code == 400 and r.json()["error"]["details"]["parameter"] == "componentType"
    r = api("/exports/exp_nope", key, verbose="1")
    assert r.status_code == 400 and r.json()["error"]["details"]["parameter"] == "verbose"


@pytest.mark.parametrize(
    "path", ["/api/", "/api", "/api/v3/", "/api/v3/nothing", "/api/v2/data/events/room/x"]
)
def test_unknown_paths_under_api_answer_json(client, path):
    r = client.get(path)
    assert r.status_code == 404
    assert r["Content-Type"] == "application/json"
    body = r.json()
    assert body["status"] == "error" and body["error"]["code"] == "NOT_FOUND"
    assert body["error"]["details"]["path"] == path


def test_a_method_a_path_does_not_take_is_json(world, make_key, client):
    r = client.delete(
        f"/api/v3/data/events/room/{world.room.public_id}", headers={"X-API-Key": make_key()}
    )
    assert r.status_code == 405 and r["Content-Type"] == "application/json"
    assert r.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_every_answer_carries_the_rate_limit_headers(world, make_key, api, settings):
    settings.API_RATE_LIMIT_PER_KEY_HOUR = 50
    settings.API_RATE_LIMIT_PER_ENDPOINT = 3
    key = make_key()
    path = f"/data/events/room/{world.room.public_id}"
    answers = [api(path, key, limit=1) for _ in range(3)]
    assert [int(r["X-RateLimit-Remaining"]) for r in answers] == [2, 1, 0]
    assert {r["X-RateLimit-Limit"] for r in answers} == {"3"}
    assert all(int(r["X-RateLimit-Reset"]) > time.time() for r in answers)
    r = api(path, key, limit=1)
    assert r.status_code == 429 and r.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert 1 <= int(r["Retry-After"]) <= 60 and r["X-RateLimit-Remaining"] == "0"
    assert r.json()["error"]["details"]["window"] == "minute"
    # another endpoint has its own per-minute budget; errors and 401s carry the headers too
    other = api(f"/data/chat/room/{world.room.public_id}", key)
    assert other.status_code == 200 and other["X-RateLimit-Remaining"] == "2"
    for r in (api("/data/sync/room/room_nope", key), api(path, None), api("/nothing", key)):
        assert r.status_code in (401, 404) and r["X-RateLimit-Limit"]


def test_the_hourly_budget_of_a_key_is_429(world, make_key, api, settings):
    settings.API_RATE_LIMIT_PER_KEY_HOUR = 4
    key = make_key()
    paths = [f"/data/{t}/room/{world.room.public_id}" for t in ("events", "chat", "sync")]
    statuses = [api(paths[i % 3], key, limit=1).status_code for i in range(5)]
    assert statuses == [200, 200, 200, 200, 429]
    r = api(paths[0], key, limit=1)
    assert r.json()["error"]["details"]["window"] == "hour"
    assert 1 <= int(r["Retry-After"]) <= 3600
    assert api(paths[0], make_key(), limit=1).status_code == 200


def test_health_takes_no_query_parameters(client, db):
    r = client.get("/api/v3/health", {"verbose": "1"})
    assert r.status_code == 400
    assert r.json()["error"]["details"]["parameter"] == "verbose"


def test_the_spec_names_every_filter_the_data_endpoints_take(client, db):
    """The filters of the dashboard's filter form are query parameters of the data endpoints
    too: each is in the spec, with its choices where it has them."""
    from data_browser import datatypes as T
    from data_browser.filters import record_filterset

    spec = client.get("/api/v3/openapi.json").json()
    for dt in T.DATA_TYPES:
        path = "/api/v3/data/" + dt.api_name + "/{scope}/{scopeId}"
        operation = spec["paths"][path]["get"]
        named = {p["name"]: p for p in operation["parameters"]}
        assert set(record_filterset(dt).base_filters) <= set(named), dt.key
        issue = named["issue"]["schema"]
        assert {"onset_mismatch", "missing_fields", "after_end"} <= set(
            issue.get("enum") or issue["anyOf"][0]["enum"]
        )
