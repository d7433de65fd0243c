"""One de-identification policy, everywhere: the byte scan.

A collaborator with the de-identified export right reads every output the product has (browse
pages of every level and tab, the API's JSON and CSV of all seven types at all three scopes,
every export level and format with its file and entry names), and none of them holds a
participant id, room id (also the part of it record ids embed), name, first name, e-mail
address (with the domain of one built from a name) or IP address of the database. The data is
hostile: a room whose records carry those values in their ids, labels, free text and payloads.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import timedelta

import pytest
from django.db.models import F

from data_browser import datatypes as T
from data_browser.api.keys import create_key
from data_browser.identity import ROOM_PREFIX, id_part, participant_code, record_code, room_code
from data_browser.models import AuditEntry, DataRequest, Participant, Room
from exports import services
from exports.models import Status
from tests.conftest import show_every_column
from tests.exports import conftest as export_fixtures
from tests.factories import hostile_room

pytestmark = pytest.mark.django_db

READER = "collaborator"  # de-identified export right
eager, export = export_fixtures.eager, export_fixtures.export  # jobs run in this process


@pytest.fixture
def hostile(world):
    return hostile_room(world.experiment)


class Scan:
    """Every identifying value in the database, and a check that a blob holds none."""

    def __init__(self, hostile) -> None:
        values = set(hostile.secrets)
        for p in Participant.objects.all():
            values |= {p.public_id, p.display_name, p.email, p.ip_address}
        for room_id in Room.objects.values_list("public_id", flat=True):
            values |= {room_id, id_part(room_id)}
        self.values = sorted({v.lower() for v in values if v}, key=len, reverse=True)
        words = set(hostile.name_parts)
        words |= {p.display_name.split()[0] for p in Participant.objects.exclude(display_name="")}
        self.words = re.compile(r"\b(?:" + "|".join(map(re.escape, sorted(words))) + r")\b")
        self.scanned = 0

    def leaks(self, blob: bytes | str) -> list[str]:
        text = blob.decode("utf-8", "replace") if isinstance(blob, bytes) else blob
        lowered = text.lower()
        found = [v for v in self.values if v in lowered]
        return found + self.words.findall(text)

    def check(self, what: str, blob: bytes | str) -> None:
        self.scanned += 1
        leaked = self.leaks(blob)
        assert not leaked, f"{what} leaks {leaked[:5]}"


def body(response) -> bytes:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content + str(response.headers).encode()


def test_the_hostile_room_holds_identifiers_where_they_are_hard_to_find(world, hostile, client):
    """The scan would find them: identified outputs show them."""
    scan = Scan(hostile)
    client.force_login(world.user("owner"))
    url = f"/e/{world.experiment.public_id}/r/{hostile.room.public_id}/data/?tab=chat"
    page = body(client.get(url))
    leaked = scan.leaks(page)
    for value in (hostile.people[0].public_id, "hostile9f3k2a", "quarrington-lab.example"):
        assert value in leaked
    assert "Zelinda" in leaked


def test_browse_pages_of_every_level_and_tab_hold_no_identifier(world, hostile, client):
    scan = Scan(hostile)
    show_every_column(world, READER)  # the columns a reader may choose are scanned too
    client.force_login(world.user(READER))
    exp = world.experiment.public_id
    pages = ["/", f"/e/{exp}/", f"/e/{exp}/quality/"]
    pages += [f"/e/{exp}/data/?tab={dt.key}" for dt in T.DATA_TYPES]
    for room in (hostile.room, world.room):
        base = f"/e/{exp}/r/{room_code(exp, room.public_id)}/"
        pages += [base, base + "quality/", base + "plots/"]
        pages += [f"{base}data/?tab={dt.key}" for dt in T.DATA_TYPES]
        pages += [f"{base}data/?tab={dt.key}&sort=-onset" for dt in T.DATA_TYPES]
        people = [rp.participant for rp in room.room_participants.select_related("participant")]
        for p in people:
            ref = f"{base}p/{participant_code(exp, p.public_id)}/"
            pages += [ref, ref + "quality/", ref + "plots/"]
            pages += [f"{ref}?tab={dt.key}" for dt in T.DATA_TYPES]
    alice = participant_code(exp, hostile.people[0].public_id)
    hostile_code = room_code(exp, hostile.room.public_id)
    pages += [
        f"/exports/new/?level=room&experiment={exp}&room={hostile_code}",
        f"/exports/new/?level=participant&experiment={exp}&room={hostile_code}&participant={alice}",
    ]
    # The API's pages show examples with one of the reader's rooms, named as they name it.
    key, raw = create_key(world.user(READER), name="scan", scopes=T.ALL_SCOPES)
    pages += ["/keys/docs/", "/keys/", f"/keys/{key.pk}/", "/exports/", "/access/"]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        scan.check(url, body(response))
        partial = client.get(url, headers={"HX-Request": "true"})
        scan.check(f"{url} (htmx)", body(partial))
    # The rooms and people are there, by code.
    room_page = client.get(f"/e/{exp}/r/{hostile_code}/data/?tab=chat").content.decode()
    assert alice in room_page and hostile_code in room_page
    assert record_code(exp, f"msg_hostile9f3k2a_{hostile.people[0].public_id}_0") in room_page
    docs = client.get("/keys/docs/").content.decode()
    example = re.search(rf"/data/events/room/{ROOM_PREFIX}[a-z2-7]{{16}}(?=\?)", docs)
    assert example, "the API docs' example names a room by its code"
    response = client.get(f"/api/v3{example.group(0)}", headers={"X-API-Key": raw})
    assert response.status_code == 200, "and the example works with the reader's key"


def test_expanded_rows_of_every_type_hold_no_identifier(world, hostile, client):
    """Every record of the hostile room opened as its expanded row (htmx) and as its own page:
    the fields, the events' variables in force and the raw JSON, all de-identified."""
    scan = Scan(hostile)
    # The hostile snapshots (their variables name people) are in force at every event.
    T.COMPONENTS.model.objects.filter(room=hostile.room).update(
        timestamp=F("timestamp") - timedelta(days=1), onset=F("onset") - 86_400_000
    )
    client.force_login(world.user(READER))
    exp = world.experiment.public_id
    opened = 0
    for dt in T.DATA_TYPES:
        for pk in dt.model.objects.filter(room=hostile.room).values_list("pk", flat=True):
            url = f"/e/{exp}/records/{dt.key}/{pk}/"
            for headers in ({}, {"HX-Request": "true"}):
                response = client.get(url, headers=headers)
                assert response.status_code == 200, url
                scan.check(f"{url} {headers}", body(response))
            opened += 1
    assert opened >= len(T.DATA_TYPES)
    events = T.EVENTS.model.objects.filter(room=hostile.room).values_list("pk", flat=True)
    shown = [client.get(f"/e/{exp}/records/events/{pk}/").content.decode() for pk in events]
    assert shown and all("No component snapshot" not in page for page in shown)


def test_browse_urls_take_codes_not_ids_from_a_reader_who_sees_codes(world, hostile, client):
    client.force_login(world.user(READER))
    exp = world.experiment.public_id
    assert client.get(f"/e/{exp}/r/{hostile.room.public_id}/").status_code == 404
    assert client.get(f"/e/{exp}/r/{room_code(exp, hostile.room.public_id)}/").status_code == 200
    client.force_login(world.user("owner"))
    assert client.get(f"/e/{exp}/r/{hostile.room.public_id}/").status_code == 200


def test_api_json_csv_and_ndjson_of_every_type_and_scope_hold_no_identifier(world, hostile, client):
    scan = Scan(hostile)
    _key, raw = create_key(world.user(READER), name="scan", scopes=T.ALL_SCOPES)
    exp = world.experiment.public_id
    scopes = {
        "experiment": exp,
        "room": room_code(exp, hostile.room.public_id),
        "participant": participant_code(exp, hostile.people[0].public_id),
    }
    reads = [(dt.api_name, scope) for dt in T.DATA_TYPES for scope in scopes]
    reads += [(listing, scope) for listing in ("rooms", "participants") for scope in scopes]
    for name, scope in reads:
        if (name, scope) in (
            ("rooms", "room"),
            ("rooms", "participant"),
            ("participants", "participant"),
        ):
            continue  # rooms are listed per experiment, participants per experiment or room
        url = f"/api/v3/data/{name}/{scope}/{scopes[scope]}"
        variants = [{}, {"format": "csv"}, {"format": "ndjson"}, {"limit": 3}]
        if name == "sync":
            variants += [{"aggregationWindow": 5000}, {"aggregationWindow": 5000, "format": "csv"}]
        for params in variants:
            response = client.get(url, params, headers={"X-API-Key": raw})
            assert response.status_code == 200, (url, params, response.content[:300])
            scan.check(f"{url} {params}", body(response))
    rooms = client.get(
        f"/api/v3/data/chat/experiment/{exp}",
        {"roomId": scopes["room"], "limit": 10000},
        headers={"X-API-Key": raw},
    ).json()
    assert {m["roomId"] for m in rooms["data"]} == {scopes["room"]}
    assert rooms["metadata"]["query"]["roomId"] == scopes["room"]


EXPORTS = [("experiment", "remove", fmt) for fmt in ("csv", "json", "zip")] + [
    (level, mode, fmt)
    for level in ("room", "participant")
    for mode in ("remove", "aggregate")
    for fmt in ("csv", "json", "zip")
    if not (level == "participant" and mode == "aggregate")
]


def archive_parts(job) -> list[tuple[str, bytes]]:
    with job.file.open("rb") as fh:
        data = fh.read()
    parts = [(job.file_name, job.file_name.encode())]
    if data[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for name in zf.namelist():
                parts += [(name, name.encode()), (name, zf.read(name))]
    else:
        parts.append((job.file_name, data))
    return parts


@pytest.mark.parametrize(("level", "mode", "fmt"), [*EXPORTS, ("experiment", "aggregate", "zip")])
def test_exports_of_every_level_and_format_hold_no_identifier(
    export, world, hostile, client, level, mode, fmt
):
    scan = Scan(hostile)
    exp = world.experiment.public_id
    kw = {"level": level, "fmt": fmt, "anonymization": mode}
    if level != "experiment":
        kw["room_id"] = room_code(exp, hostile.room.public_id)
    if level == "participant":
        kw["participant_id"] = participant_code(exp, hostile.people[0].public_id)
    job = export(READER, **kw)
    assert job.status == Status.SUCCEEDED, job.error
    for name, blob in archive_parts(job):
        scan.check(f"{level}/{mode}/{fmt} {name}", blob)
    scan.check("job as the API shows it", json.dumps(services.job_as_dict(job)))
    client.force_login(world.user(READER))
    for url in ("/exports/", f"/exports/{job.public_id}/"):
        response = client.get(url)
        assert response.status_code == 200, url
        scan.check(url, body(response))


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_single_type_exports_hold_no_identifier(export, world, hostile, fmt):
    scan = Scan(hostile)
    exp = world.experiment.public_id
    for dt in T.DATA_TYPES:
        job = export(
            READER,
            level="type",
            fmt=fmt,
            anonymization="remove",
            room_id=room_code(exp, hostile.room.public_id),
            participant_id=participant_code(exp, hostile.people[0].public_id),
            data_types=[dt.key],
        )
        assert job.status == Status.SUCCEEDED, job.error
        for name, blob in archive_parts(job):
            scan.check(f"{dt.key} {fmt} {name}", blob)


def test_room_codes_and_record_codes_join_the_dashboard_the_api_and_exports(
    export, world, hostile, client
):
    exp = world.experiment.public_id
    code = room_code(exp, hostile.room.public_id)
    show_every_column(world, READER)  # record ids are not among the default columns
    _key, raw = create_key(world.user(READER), name="join", scopes=T.ALL_SCOPES)
    api = client.get(
        f"/api/v3/data/chat/room/{code}", {"limit": 100}, headers={"X-API-Key": raw}
    ).json()["data"]
    job = export(READER, level="room", fmt="zip", anonymization="remove", room_id=code)
    with zipfile.ZipFile(io.BytesIO(job.file.open("rb").read())) as zf:
        rows = list(csv_rows(zf.read(f"{code}/chat.csv")))
        meta = json.loads(zf.read("metadata.json"))
    assert meta["scope"]["roomIds"] == [code]
    assert {r["messageId"] for r in rows} == {m["messageId"] for m in api}
    assert {r["roomId"] for r in rows} == {code}
    client.force_login(world.user(READER))
    page = client.get(f"/e/{exp}/r/{code}/data/?tab=chat").content.decode()
    assert all(m["messageId"] in page for m in api)


def csv_rows(data: bytes):
    import csv

    return csv.DictReader(io.StringIO(data.decode()))


def test_a_participants_own_copy_keeps_their_own_words_and_lists_its_rooms(export, world):
    """Their own name, id and messages as they wrote them; everyone else by code."""
    user = world.user("participant")
    me = world.participant
    request = DataRequest.objects.create(
        participant=me,
        experiment=world.experiment,
        requested_by=user,
        kind=DataRequest.Kind.ACCESS,
        status=DataRequest.Status.APPROVED,
    )
    job = export("participant", level="experiment", fmt="zip", for_participant_request=request)
    assert job.status == Status.SUCCEEDED, job.error
    with zipfile.ZipFile(io.BytesIO(job.file.open("rb").read())) as zf:
        meta = json.loads(zf.read("metadata.json"))
        folders = sorted({n.split("/")[0] for n in zf.namelist() if "/" in n})
        chat = list(csv_rows(zf.read(f"{world.room.public_id}/chat.csv")))
    rooms = Room.objects.filter(room_participants__participant=me, experiment=world.experiment)
    assert sorted(meta["scope"]["roomIds"]) == folders == sorted(r.public_id for r in rooms)
    mine = T.CHAT.model.objects.filter(room=world.room, participant=me)
    stored = dict(mine.values_list("record_id", "content"))
    assert chat and {r["senderId"] for r in chat} == {me.public_id}
    assert {r["senderName"] for r in chat} == {me.display_name}
    first = me.display_name.split()[0]
    assert any(first in r["content"] for r in chat), "their own first name stays in their words"
    assert {r["messageId"]: r["content"] for r in chat} == stored
    others = Participant.objects.filter(room_participants__room=world.room).exclude(pk=me.pk)
    assert others.exists()
    for r in chat:
        for other in others:
            assert other.public_id not in r["recipientIds"]


def test_a_lab_admin_without_membership_sees_codes_in_the_audit_log(export, world, client):
    exp = world.experiment.public_id
    pid = world.participant.public_id
    job = export(
        "owner",
        level="participant",
        fmt="csv",
        anonymization="keep",
        room_id=world.room.public_id,
        participant_id=pid,
    )
    assert job.status == Status.SUCCEEDED, job.error
    assert AuditEntry.objects.filter(scope__contains=pid).exists()
    client.force_login(world.user("labadmin"))
    for url in ("/audit/", "/audit/export.csv"):
        response = client.get(url)
        assert response.status_code == 200
        text = body(response).decode()
        assert pid not in text and world.room.public_id not in text, url
        assert participant_code(exp, pid) in text, url
    client.force_login(world.user("owner"))
    assert pid in client.get("/audit/").content.decode()


def test_filtered_exports_hold_no_identifier_even_when_the_filters_are_identifiers(
    export, world, hostile, client
):
    """A de-identified reader's contextual exports whose filter values are a participant's id,
    name and e-mail address: the rows are filtered by them, and neither the files, their
    names, metadata.json, the JSON envelope, the job list, the progress page, the job as the
    API shows it nor the audit log holds them."""
    scan = Scan(hostile)
    exp = world.experiment.public_id
    alice, bob = hostile.people[0], hostile.people[1]
    first = alice.display_name.split()[0]
    room = room_code(exp, hostile.room.public_id)
    cases = [
        (
            {"level": "room", "room_id": room, "fmt": "csv", "data_types": ["events"]},
            {
                "eventType": f"custom.{first.lower()}.{alice.public_id}",
                "componentId": f"rating_{alice.public_id}_{id_part(hostile.room.public_id)}",
            },
        ),
        (
            {
                "level": "type",
                "room_id": room,
                "participant_id": participant_code(exp, alice.public_id),
                "fmt": "json",
                "data_types": ["chat"],
            },
            {"messageType": f"to:{bob.public_id}", "content": alice.email},
        ),
        (
            {"level": "experiment", "fmt": "zip", "data_types": ["recordings"]},
            {"status": f"by_{first}", "format": f"w_{id_part(hostile.room.public_id)}"},
        ),
    ]
    client.force_login(world.user(READER))
    for kw, filters in cases:
        job = export(READER, anonymization="remove", filters=filters, **kw)
        assert job.status == Status.SUCCEEDED, job.error
        assert job.rows_done == 1, (kw, job.rows_done)  # filtered by the identifying values
        parts = archive_parts(job)
        meta = json.loads(dict(parts)["metadata.json"])
        assert meta["filtered"] and set(meta["filters"]) == set(filters)  # named, values coded
        for name, blob in parts:
            scan.check(f"filtered {kw['data_types']} {name}", blob)
        scan.check("job as the API shows it", json.dumps(services.job_as_dict(job)))
        for url in ("/exports/", f"/exports/{job.public_id}/"):
            response = client.get(url)
            assert response.status_code == 200, url
            assert b"Filtered" in response.content
            scan.check(url, body(response))
    for entry in AuditEntry.objects.filter(action__startswith="export."):
        scan.check(f"audit {entry.action}", json.dumps(entry.details) + entry.scope)
