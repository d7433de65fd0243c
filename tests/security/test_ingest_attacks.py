"""Issue 13, items 4 and 5: ingest without optional fields, and ingest errors that could tell
one lab about another lab's participants."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest

from data_browser import datatypes as T
from data_browser.api.keys import create_key
from data_browser.ingest import ingest
from data_browser.models import ChatMessage, Event, Participant, Room, RoomParticipant

pytestmark = pytest.mark.django_db


def _post(client, world, data_type: str, batch: list) -> Any:
    _key, raw = create_key(world.user("owner"), name="ingest attack", scopes=[T.WRITE_SCOPE])
    return client.post(
        f"/api/v3/ingest/{data_type}",
        orjson.dumps(batch),
        content_type="application/json",
        headers={"X-API-Key": raw},
    )


def _record_errors(response) -> list[dict]:
    """Per-record errors, wherever the API's envelope puts the ingest summary."""
    body = response.json()
    summary = body.get("data", body) if isinstance(body.get("data"), dict) else body
    return summary["errors"]


def _minimal(dt: T.DataType, world, member: RoomParticipant, n: int) -> dict:
    """Only the fields a type requires (plus its id), nothing optional."""
    ts = T.iso(member.room.started_at + timedelta(seconds=5))
    value = {
        T.ID: f"minimal_{dt.key}_{n}",
        T.DATETIME: ts,
        T.ROOM: member.room.public_id,
        T.PARTICIPANT: member.participant.public_id,
        T.STR: "x",
        T.TEXT: "hello",
        T.FLOAT: 0.5,
        T.INT: 1,
    }
    return {
        f.name: value[f.kind]
        for f in dt.fields
        if f.required or (f.kind == T.ID and dt is not T.COMPONENTS)
    }


@pytest.fixture
def member(world) -> RoomParticipant:
    return RoomParticipant.objects.select_related("room", "participant").filter(room=world.room)[0]


def test_chat_without_recipient_ids_through_the_api_is_stored_for_everyone(client, world, member):
    """The repro: a chat message without the optional recipientIds was a 500."""
    record = _minimal(T.CHAT, world, member, 1)
    assert "recipientIds" not in record and "messageType" not in record
    response = _post(client, world, "chat", [record])
    assert response.status_code == 200, response.content
    stored = ChatMessage.objects.get(record_id=record["messageId"])
    assert stored.recipient_ids == []  # documented: empty means everyone in the room
    assert stored.message_type == "text"


@pytest.mark.parametrize("dt", T.DATA_TYPES, ids=lambda dt: dt.key)
def test_every_type_takes_a_record_with_only_its_required_fields(world, member, dt):
    result = ingest(dt.key, [_minimal(dt, world, member, 2)])
    assert (result.accepted, result.errors) == (1, [])


def _foreign_participant(world) -> Participant:
    """A participant who took part in a room of another lab's experiment."""
    room = Room.objects.create(
        public_id="room_other_lab", experiment=world.other, started_at=world.room.started_at
    )
    person = Participant.objects.create(public_id="user_other_lab", email="them@other.test")
    RoomParticipant.objects.create(room=room, participant=person)
    return person


def _probes(world) -> dict[str, str]:
    other_room = RoomParticipant.objects.exclude(room=world.room).exclude(
        participant__room_participants__room=world.room
    )[0]
    return {
        "another lab's participant": _foreign_participant(world).public_id,
        "an id that does not exist": "user_does_not_exist",
        "a participant of another room": other_room.participant.public_id,
    }


@pytest.mark.parametrize("field", ["senderId", "recipientIds"])
def test_chat_ids_outside_the_room_get_one_error_whatever_the_reason(client, world, member, field):
    """The repro: another lab's participant got "did not take part in room …", an unknown
    one "unknown participant …", and a recipient of another lab was stored."""
    probes = _probes(world)
    batch = []
    for n, pid in enumerate(probes.values()):
        record = _minimal(T.CHAT, world, member, 10 + n)
        record[field] = pid if field == "senderId" else [member.participant.public_id, pid]
        batch.append(record)
    response = _post(client, world, "chat", batch)
    assert response.status_code == 200, response.content
    errors = _record_errors(response)
    assert len(errors) == len(probes)
    texts = {
        " ".join(e["errors"]).replace(repr(pid), "<id>")
        for e, pid in zip(errors, probes.values(), strict=True)
    }
    assert texts == {f"{field}: <id> did not take part in room {world.room.public_id!r}"}
    assert not ChatMessage.objects.filter(record_id__in=[r["messageId"] for r in batch]).exists()


def test_event_participants_outside_the_room_get_one_error_whatever_the_reason(world, member):
    probes = _probes(world)
    records = []
    for n, pid in enumerate(probes.values()):
        record = _minimal(T.EVENTS, world, member, 20 + n)
        records.append({**record, "participantId": pid})
    result = ingest("events", records)
    assert result.accepted == 0
    texts = {
        " ".join(e.errors).replace(repr(pid), "<id>")
        for e, pid in zip(result.errors, probes.values(), strict=True)
    }
    assert texts == {f"participantId: <id> did not take part in room {world.room.public_id!r}"}
    assert not Event.objects.filter(record_id__startswith="minimal_events_2").exists()
