"""GET /api/v3/data/{dataType}/{scope}/{scopeId}: every type, scope and format, paging,
filters and sort orders, all checked against the database."""

from __future__ import annotations

import csv
import io
import itertools
import time
from datetime import datetime, timedelta

import orjson
import pytest
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db.models import Min
from django.test import Client

from data_browser import access, media
from data_browser import datatypes as T
from data_browser.models import ApiKey, Recording, Room
from tests.factories import EventFactory, RoomFactory

pytestmark = pytest.mark.django_db

WEBM = bytes.fromhex("1a45dfa3")  # stand-in media starts like the demo's WebM files
SCOPES = ("experiment", "room", "participant")


def scope_of(world, scope: str) -> tuple[str, dict, dict]:
    """(scopeId, extra query params, ORM filter) for a scope of the demo world."""
    if scope == "experiment":
        return world.experiment.public_id, {}, {"experiment": world.experiment}
    if scope == "room":
        return world.room.public_id, {}, {"room": world.room}
    return (
        world.participant.public_id,
        {"roomId": world.room.public_id},
        {"room": world.room, "participant": world.participant},
    )


def expected_ids(dt: T.DataType, flt: dict) -> list[str]:
    return list(dt.model.objects.filter(**flt).values_list("record_id", flat=True))


def csv_rows(body: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(body.decode())))


def body_csv(response) -> list[dict]:
    return csv_rows(b"".join(response.streaming_content))


@pytest.mark.parametrize("dt", T.DATA_TYPES, ids=lambda dt: dt.key)
@pytest.mark.parametrize("scope", SCOPES)
def test_it_returns_every_record_of_the_scope_as_json(world, make_key, api, dt, scope):
    scope_id, extra, flt = scope_of(world, scope)
    expected = expected_ids(dt, flt)
    assert expected, "the demo should hold records of every type in every scope"

    r = api(f"/data/{dt.api_name}/{scope}/{scope_id}", make_key(), limit=10000, **extra)

    assert r.status_code == 200, r.content
    body = r.json()
    assert set(body) == {"status", "data", "metadata"} and body["status"] == "success"
    ids = [rec[dt.id_field.name] for rec in body["data"]]
    assert sorted(ids) == sorted(expected)
    assert all(list(rec) == dt.field_names for rec in body["data"])
    meta = body["metadata"]
    assert set(meta) == {
        "dataType",
        "scope",
        "scopeId",
        "timestamp",
        "query",
        "processing",
        "pagination",
    }
    assert (meta["dataType"], meta["scope"], meta["scopeId"]) == (dt.api_name, scope, scope_id)
    assert set(meta["processing"]) == {
        "experimentStartedAt",
        "processingTimeMs",
        "enriched",
        "version",
    }
    assert meta["processing"]["version"] == "3.0.0"
    assert meta["pagination"]["total"] == len(expected)
    assert meta["pagination"]["returned"] == len(expected)
    assert meta["pagination"]["hasMore"] is False
    assert meta["pagination"]["nextOffset"] is None


@pytest.mark.parametrize("dt", T.DATA_TYPES, ids=lambda dt: dt.key)
@pytest.mark.parametrize("scope", SCOPES)
def test_it_returns_every_record_of_the_scope_as_csv(world, make_key, api, dt, scope):
    scope_id, extra, flt = scope_of(world, scope)
    expected = expected_ids(dt, flt)

    r = api(f"/data/{dt.api_name}/{scope}/{scope_id}", make_key(), format="csv", **extra)

    assert r.status_code == 200
    assert r["Content-Type"].startswith("text/csv")
    text = b"".join(r.streaming_content).decode()
    header = next(csv.reader(io.StringIO(text)))
    assert header == dt.field_names
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sorted(row[dt.id_field.name] for row in rows) == sorted(expected)


def test_csv_without_limit_streams_past_the_json_default(world, make_key, api, settings):
    """The reference's download script takes ?format=csv as "all data"."""
    from data_browser.api import records

    dt = T.CONTINUOUS_RATINGS
    expected = expected_ids(dt, {"experiment": world.experiment})
    settings.DEBUG = False
    original = records.STREAM_CHUNK
    records.STREAM_CHUNK = 100  # several keyset chunks
    try:
        r = api(
            f"/data/ratings/continuous/experiment/{world.experiment.public_id}",
            make_key(),
            format="csv",
        )
        rows = body_csv(r)
    finally:
        records.STREAM_CHUNK = original
    assert len(expected) > 100
    assert sorted(row["ratingId"] for row in rows) == sorted(expected)


def test_csv_with_limit_is_one_page(world, make_key, api):
    r = api(f"/data/events/room/{world.room.public_id}", make_key(), format="csv", limit=5)
    assert len(body_csv(r)) == 5
    assert r["X-Next-Cursor"]


def test_events_are_enriched_and_typed(world, make_key, api):
    r = api(f"/data/events/room/{world.room.public_id}", make_key(), limit=10000)
    data = r.json()["data"]
    assert r.json()["metadata"]["processing"]["enriched"] is True
    completes = [e for e in data if e["componentType"] and e["content"]]
    assert completes
    event = data[0]
    assert event["timestamp"].endswith("Z") and "T" in event["timestamp"]
    assert isinstance(event["onset"], int)
    assert any(isinstance(e["response"], dict) for e in data)


def test_sparse_ratings_carry_labels_and_components_variable_snapshot(world, make_key, api):
    key = make_key()
    sparse = api(f"/data/ratings/sparse/room/{world.room.public_id}", key).json()["data"]
    assert sparse and all(isinstance(s["labels"], dict) for s in sparse)
    comps = api(f"/data/components/room/{world.room.public_id}", key).json()["data"]
    assert any(isinstance(c["variableSnapshot"], dict) for c in comps)
    assert any(isinstance(c["config"], dict) for c in comps)


def test_experiment_started_at_is_the_room_start_or_the_earliest_room(world, make_key, api):
    key = make_key()
    room = api(f"/data/events/room/{world.room.public_id}", key, limit=1).json()
    assert room["metadata"]["processing"]["experimentStartedAt"] == T.iso(world.room.started_at)
    part = api(
        f"/data/events/participant/{world.participant.public_id}",
        key,
        roomId=world.room.public_id,
        limit=1,
    ).json()
    assert part["metadata"]["processing"]["experimentStartedAt"] == T.iso(world.room.started_at)
    exp = api(f"/data/events/experiment/{world.experiment.public_id}", key, limit=1).json()
    earliest = Room.objects.filter(experiment=world.experiment).aggregate(m=Min("started_at"))
    assert exp["metadata"]["processing"]["experimentStartedAt"] == T.iso(earliest["m"])
    # onset is measured from the room's start
    rec = room["data"][0]
    since_start = datetime.fromisoformat(rec["timestamp"]) - world.room.started_at
    assert rec["onset"] == round(since_start.total_seconds() * 1000)


def test_metadata_query_echoes_the_request(world, make_key, api):
    r = api(
        f"/data/events/room/{world.room.public_id}",
        make_key(),
        limit=100,
        sort="onset",
        order="asc",
        startTime="2024-10-20T00:00:00Z",
    )
    query = r.json()["metadata"]["query"]
    assert query["roomId"] == world.room.public_id
    assert (query["limit"], query["offset"], query["sort"], query["order"]) == (
        100,
        0,
        "onset",
        "asc",
    )
    assert query["startTime"] == "2024-10-20T00:00:00.000Z"


@pytest.mark.parametrize(
    "sort,order", [("timestamp", "asc"), ("timestamp", "desc"), ("onset", "asc"), ("onset", "desc")]
)
def test_sort_orders_match_the_database(world, make_key, api, sort, order):
    r = api(
        f"/data/events/experiment/{world.experiment.public_id}",
        make_key(),
        sort=sort,
        order=order,
        limit=10000,
    )
    ordering = [sort, "pk"] if order == "asc" else [f"-{sort}", "-pk"]
    expected = list(
        T.EVENTS.model.objects.filter(experiment=world.experiment)
        .order_by(*ordering)
        .values_list("record_id", flat=True)
    )
    assert [e["id"] for e in r.json()["data"]] == expected


def test_time_filters_match_the_database(world, make_key, api):
    ts = list(
        T.EVENTS.model.objects.filter(experiment=world.experiment)
        .order_by("timestamp")
        .values_list("timestamp", flat=True)
    )
    start, end = ts[len(ts) // 4], ts[3 * len(ts) // 4]
    r = api(
        f"/data/events/experiment/{world.experiment.public_id}",
        make_key(),
        startTime=start.isoformat(),
        endTime=end.isoformat().replace("+00:00", "Z"),
        limit=10000,
    )
    expected = set(
        T.EVENTS.model.objects.filter(
            experiment=world.experiment, timestamp__gte=start, timestamp__lt=end
        ).values_list("record_id", flat=True)
    )
    got = [e["id"] for e in r.json()["data"]]
    assert expected and set(got) == expected and len(got) == len(expected)
    assert r.json()["metadata"]["pagination"]["total"] == len(expected)


def test_naive_times_are_utc(world, make_key, api):
    """The reference's Python example sends datetime.isoformat() without a zone."""
    key = make_key()
    path = f"/data/events/experiment/{world.experiment.public_id}"
    ts = sorted(
        T.EVENTS.model.objects.filter(experiment=world.experiment).values_list(
            "timestamp", flat=True
        )
    )
    middle = ts[len(ts) // 2].replace(tzinfo=None).isoformat()
    naive = api(path, key, startTime=middle, limit=10000).json()
    aware = api(path, key, startTime=middle + "+00:00", limit=10000).json()
    assert naive["data"] == aware["data"]
    assert (
        0 < len(naive["data"]) < T.EVENTS.model.objects.filter(experiment=world.experiment).count()
    )


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_offset_walk_returns_every_record_exactly_once(world, make_key, api, order):
    key = make_key()
    expected = expected_ids(T.CHAT, {"experiment": world.experiment})
    seen, offset = [], 0
    while True:
        page = api(
            f"/data/chat/experiment/{world.experiment.public_id}",
            key,
            limit=7,
            offset=offset,
            order=order,
        ).json()
        seen += [m["messageId"] for m in page["data"]]
        pag = page["metadata"]["pagination"]
        assert pag["total"] == len(expected)
        if not pag["hasMore"]:
            assert pag["nextOffset"] is None
            break
        assert pag["nextOffset"] == offset + 7
        offset = pag["nextOffset"]
    assert sorted(seen) == sorted(expected) and len(seen) == len(set(seen))


@pytest.mark.parametrize("sort,order", [("timestamp", "asc"), ("onset", "desc")])
def test_cursor_walk_returns_every_record_exactly_once(world, make_key, api, sort, order):
    key = make_key()
    expected = list(
        T.EVENTS.model.objects.filter(room=world.room)
        .order_by(*([sort, "pk"] if order == "asc" else [f"-{sort}", "-pk"]))
        .values_list("record_id", flat=True)
    )
    seen, params = [], {"limit": 13, "sort": sort, "order": order}
    offsets = []
    while True:
        page = api(f"/data/events/room/{world.room.public_id}", key, **params).json()
        seen += [e["id"] for e in page["data"]]
        pag = page["metadata"]["pagination"]
        offsets.append(page["metadata"]["query"]["offset"])
        if not pag["hasMore"]:
            assert pag["nextCursor"] is None
            break
        params = {"limit": 13, "cursor": pag["nextCursor"]}
    assert seen == expected
    assert offsets == list(range(0, len(expected), 13))


def test_participant_scope_without_room_spans_the_participants_rooms(world, make_key, api):
    r = api(f"/data/events/participant/{world.participant.public_id}", make_key(), limit=10000)
    expected = expected_ids(T.EVENTS, {"participant": world.participant})
    assert sorted(e["id"] for e in r.json()["data"]) == sorted(expected)


def test_experiment_scope_takes_room_id_as_a_filter(world, make_key, api):
    r = api(
        f"/data/events/experiment/{world.experiment.public_id}",
        make_key(),
        roomId=world.room.public_id,
        limit=10000,
    )
    assert sorted(e["id"] for e in r.json()["data"]) == sorted(
        expected_ids(T.EVENTS, {"room": world.room})
    )


def test_recording_download_url_is_signed_and_works_without_a_session(world, make_key, api):
    for rec in Recording.objects.filter(room=world.room):
        if not default_storage.exists(rec.file.name):
            default_storage.save(rec.file.name, ContentFile(WEBM + b" media bytes"))
    r = api(f"/data/recordings/room/{world.room.public_id}", make_key())
    recs = r.json()["data"]
    assert recs and all(rec["downloadUrl"].startswith("http://testserver/") for rec in recs)
    fresh = Client()
    download = fresh.get(recs[0]["downloadUrl"].removeprefix("http://testserver"))
    assert download.status_code == 200
    assert (
        b"".join(download.streaming_content)
        == default_storage.open(
            Recording.objects.get(record_id=recs[0]["recordingId"]).file.name
        ).read()
    )
    tampered = fresh.get(recs[0]["downloadUrl"].removeprefix("http://testserver")[:-3] + "xx/")
    assert tampered.status_code == 404


@pytest.mark.postgres
@pytest.mark.parametrize("dt", T.DATA_TYPES, ids=lambda dt: dt.key)
def test_full_csv_by_copy_equals_the_python_writer(world, make_key, api, monkeypatch, dt):
    from data_browser.api import records

    key = make_key()
    path = f"/data/{dt.api_name}/experiment/{world.experiment.public_id}"
    params = {"format": "csv", "sort": "onset", "order": "desc", "offset": "3"}
    used_copy = records.copy_possible
    copied = b"".join(api(path, key, **params).streaming_content)
    monkeypatch.setattr(records, "copy_possible", lambda sel: False)
    python = b"".join(api(path, key, **params).streaming_content)
    if dt is T.RECORDINGS:  # their links carry the second they were signed in
        assert signed_files(csv_rows(copied)) == signed_files(csv_rows(python))
    else:
        assert copied == python
    assert copied.count(b"\n") > 3
    selection_types = [d for d in T.DATA_TYPES if d is not T.RECORDINGS]
    assert (dt in selection_types) == used_copy(
        records.select(
            access.for_user(world.user("owner"), key=ApiKey.objects.get(prefix=key[:17])),
            dt,
            "room",
            world.room.public_id,
            records.Params(),
        )
    )


def test_csv_pages_walk_by_cursor_header(world, make_key, api):
    key = make_key()
    path = f"/data/events/room/{world.room.public_id}"
    seen, params = [], {"format": "csv", "limit": 50}
    while True:
        r = api(path, key, **params)
        seen += [row["id"] for row in body_csv(r)]
        if not r.has_header("X-Next-Cursor"):
            break
        params = {"format": "csv", "limit": 50, "cursor": r["X-Next-Cursor"]}
    expected = list(
        T.EVENTS.model.objects.filter(room=world.room)
        .order_by("timestamp", "pk")
        .values_list("record_id", flat=True)
    )
    assert seen == expected


def signed_files(records: list[dict]) -> list[dict]:
    """Records with each signed link replaced by the file it names: a link carries the second
    it was signed in, so two requests a moment apart sign the same file differently."""
    signer = signing.TimestampSigner(salt=media._SALT)
    out = []
    for record in records:
        if record.get("downloadUrl"):
            token = record["downloadUrl"].rstrip("/").rsplit("/", 1)[1]
            signed = signing.b64_decode(token.encode()).decode()
            record = {**record, "downloadUrl": signer.unsign(signed)}
        out.append(record)
    return out


@pytest.mark.postgres
@pytest.mark.parametrize("dt", T.DATA_TYPES, ids=lambda dt: dt.key)
def test_json_built_by_postgres_equals_the_python_records(world, make_key, api, monkeypatch, dt):
    from data_browser.api import records

    key = make_key()
    path = f"/data/{dt.api_name}/experiment/{world.experiment.public_id}"
    for params in ({"limit": 7, "offset": 3}, {"sort": "onset", "order": "desc", "limit": 50}):
        built = api(path, key, **params).json()
        with monkeypatch.context() as m:
            m.setattr(records, "json_possible", lambda sel: False)
            python = api(path, key, **params).json()
        assert signed_files(built["data"]) == signed_files(python["data"]) and built["data"]
        assert built["metadata"]["pagination"] == python["metadata"]["pagination"]
        cursor = built["metadata"]["pagination"]["nextCursor"]
        if cursor is None:
            continue
        after = signed_files(api(path, key, cursor=cursor, limit=5).json()["data"])
        with monkeypatch.context() as m:
            m.setattr(records, "json_possible", lambda sel: False)
            assert signed_files(api(path, key, cursor=cursor, limit=5).json()["data"]) == after


# Values that JSON writers treat differently: a newline (NDJSON's separator), quotes, a
# backslash, a tab, a control character, non-ASCII and U+2028 in text; integral, tiny, huge
# and negative-zero floats; nested payloads with nulls, booleans and non-ASCII keys; NULLs.
TRICKY_TEXT = 'line one\nline two: "quoted", back\\slash, tab\t, \x01, ünïcode ✓ 🙂, \u2028 end'
TRICKY_LABEL = 'a\nü 🙂 "q" \\'
TRICKY_FLOATS = (0.1, 1.0, 1e20, -0.0, 2.5e-8, 123456.789)
TRICKY_PAYLOADS = (
    {"a": [1, 2.5, None, True, False], "ü 🙂": "x\ny", "deep": {"n": -0.001, "big": 1e15}},
    ["a", 1, None, {"k": "line\nbreak"}],
    "just a string",
    None,
)


def tricky_records(dt: T.DataType, room: Room, participant) -> int:
    """Four records of ``dt`` in ``room`` holding those values (the last with every nullable
    column NULL, two without a participant), times with microseconds; how many were made."""
    floats = itertools.cycle(TRICKY_FLOATS)
    for i in range(4):
        values = {
            "experiment": room.experiment,
            "room": room,
            "participant": participant if i % 2 else None,
        }
        for f in dt.fields:
            if "__" in f.column or f.kind == T.URL:
                continue
            null = i == 3 and dt.model._meta.get_field(f.column).null
            if f.kind == T.ID:
                value = f"tricky_{dt.key}_{i}"
            elif f.kind == T.DATETIME:
                value = room.started_at + timedelta(seconds=i, microseconds=123456)
            elif f.kind == T.INT:
                value = 1000 * i - 5
            elif f.kind == T.FLOAT:
                value = next(floats)
            elif f.kind == T.TEXT:
                value = TRICKY_TEXT
            elif f.kind == T.STR:
                value = TRICKY_LABEL
            elif f.kind == T.JSON:
                value = TRICKY_PAYLOADS[i]
            else:  # the recipients of a chat message
                value = [participant.public_id] if i % 2 else []
            values[f.column] = None if null else value
        dt.model.objects.create(**values)
    return 4


@pytest.mark.postgres
@pytest.mark.parametrize("dt", T.DATA_TYPES, ids=lambda dt: dt.key)
def test_ndjson_built_by_postgres_equals_the_python_records(world, make_key, api, monkeypatch, dt):
    """Each NDJSON line PostgreSQL builds parses to the record the Python path writes (numbers
    compare by value: the database writes the float 1.0 as 1, as the JSON pages do)."""
    from data_browser.api import records

    room = RoomFactory(experiment=world.experiment, public_id=f"room_tricky_{dt.key}")
    made = tricky_records(dt, room, world.participant)
    key = make_key()

    def lines(path: str, **params) -> tuple[list[dict], str | None]:
        r = api(path, key, format="ndjson", **params)
        assert r.status_code == 200 and r["Content-Type"] == "application/x-ndjson"
        body = b"".join(r.streaming_content)
        assert body == b"" or body.endswith(b"\n")
        return [orjson.loads(line) for line in body.split(b"\n")[:-1]], r.get("X-Next-Cursor")

    def same(path: str, **params) -> tuple[list[dict], str | None]:
        built, cursor = lines(path, **params)
        with monkeypatch.context() as m:
            m.setattr(records, "json_possible", lambda sel: False)
            python, python_cursor = lines(path, **params)
        assert signed_files(built) == signed_files(python), params
        assert cursor == python_cursor
        return built, cursor

    tricky, _ = same(f"/data/{dt.api_name}/room/{room.public_id}")
    assert len(tricky) == made
    experiment = f"/data/{dt.api_name}/experiment/{world.experiment.public_id}"
    for params in ({"limit": 7, "offset": 3}, {"sort": "onset", "order": "desc", "limit": 50}):
        page, cursor = same(experiment, **params)
        assert page and (cursor is not None) == (len(page) == params["limit"])
        if cursor is not None:
            same(experiment, cursor=cursor, limit=5)
    with monkeypatch.context() as m:
        m.setattr(records, "STREAM_CHUNK", 7)  # the whole scope, in several keyset chunks
        every, _ = same(experiment, sort="onset")
        assert len(every) == dt.model.objects.filter(experiment=world.experiment).count()


@pytest.mark.postgres
def test_ndjson_carries_a_payload_number_past_64_bits(world, make_key, api):
    """jsonb keeps 1e20 as the integer 100000000000000000000, which orjson cannot write: the
    rows' way through Python broke such a stream off; PostgreSQL writes the number itself."""
    room = RoomFactory(experiment=world.experiment, public_id="room_big_number")
    EventFactory(room=room, record_id="evt_big", response={"big": 1e20, "small": 1})
    for params in ({}, {"limit": 10}):
        r = api(f"/data/events/room/{room.public_id}", make_key(), format="ndjson", **params)
        lines = b"".join(r.streaming_content).split(b"\n")
        assert orjson.loads(lines[0])["response"] == {"big": 1e20, "small": 1}
        assert lines[1:] == [b""]


def test_the_same_page_always_gives_the_same_cursor(world, make_key, api):
    key = make_key()
    path = f"/data/events/experiment/{world.experiment.public_id}"
    first = api(path, key, limit=5).json()["metadata"]["pagination"]["nextCursor"]
    time.sleep(1.1)  # a timestamped signature would differ by now
    assert api(path, key, limit=5).json()["metadata"]["pagination"]["nextCursor"] == first
    tampered = first[:-2] + ("AA" if not first.endswith("AA") else "BB")
    r = api(path, key, limit=5, cursor=tampered)
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_PARAMETER"
