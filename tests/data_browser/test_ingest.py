"""The ingest service: validation, per-record errors, idempotency, onset computation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from data_browser import datatypes as T
from data_browser.ingest import ingest
from data_browser.models import (
    ChatMessage,
    ComponentSnapshot,
    Event,
    Experiment,
    RoomParticipant,
    SparseRating,
)
from tests.factories import event_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(world):
    return RoomParticipant.objects.select_related("room", "participant").filter(room=world.room)[0]


def test_it_stores_good_records_and_reports_bad_ones(member):
    batch = [
        event_record(member, "ev_good_1"),
        event_record(member, "ev_bad_ts", timestamp="yesterday"),
        event_record(member, "ev_good_2", onset=10500),
        {"id": "ev_missing"},
        "not an object",
        event_record(member, "ev_bad_room", sessionId="room_nowhere"),
        event_record(member, "ev_bad_duration", duration="long"),
    ]
    result = ingest("events", batch)
    assert result.received == 7
    assert result.accepted == 2
    assert {e.index for e in result.errors} == {1, 3, 4, 5, 6}
    messages = {e.id: " ".join(e.errors) for e in result.errors}
    assert "timestamp: 'yesterday' is not an ISO 8601 timestamp" in messages["ev_bad_ts"]
    assert "eventType: is required" in messages["ev_missing"]
    assert "unknown room 'room_nowhere'" in messages["ev_bad_room"]
    assert "duration: must be an integer" in messages["ev_bad_duration"]
    stored = set(
        Event.objects.filter(record_id__startswith="ev_").values_list("record_id", flat=True)
    )
    assert stored == {"ev_good_1", "ev_good_2"}


def test_it_is_idempotent_by_record_id(member):
    batch = [event_record(member, f"ev_replay_{i}") for i in range(5)]
    first = ingest("events", batch)
    second = ingest("events", batch)
    assert (first.accepted, first.duplicates) == (5, 0)
    assert (second.accepted, second.duplicates) == (0, 5)
    assert Event.objects.filter(record_id__startswith="ev_replay_").count() == 5


def test_it_counts_a_repeated_id_within_one_batch_once(member):
    result = ingest("events", [event_record(member, "ev_twice"), event_record(member, "ev_twice")])
    assert (result.accepted, result.duplicates) == (1, 1)


def test_it_computes_onset_and_checks_it_against_the_timestamp(member, settings):
    settings.INGEST_ONSET_TOLERANCE_MS = 50
    ts = member.room.started_at - timedelta(seconds=5)
    ok = ingest("events", [event_record(member, "ev_before", timestamp=T.iso(ts))])
    assert ok.accepted == 1
    assert Event.objects.get(record_id="ev_before").onset == -5000
    bad = ingest("events", [event_record(member, "ev_off", onset=20000)])
    assert bad.accepted == 0
    assert "onset: 20000 does not match the timestamp (expected 10500" in bad.errors[0].errors[0]


def test_it_enriches_events_with_component_type_content_and_role(member):
    ingest("events", [event_record(member, "ev_enrich")])
    stored = Event.objects.get(record_id="ev_enrich")
    assert stored.component_type == "ShowVideo"
    assert stored.content == "component.complete: video_intro"
    assert stored.participant_role == member.role


def test_it_rejects_participants_who_were_not_in_the_room(world, member):
    stranger = RoomParticipant.objects.exclude(room=world.room).select_related("participant")[0]
    result = ingest(
        "events",
        [event_record(member, "ev_stranger", participantId=stranger.participant.public_id)],
    )
    assert result.accepted == 0
    assert "did not take part in" in result.errors[0].errors[0]


def test_it_rejects_a_mismatched_experiment(member):
    result = ingest(
        "events", [event_record(member, "ev_wrong_exp", experimentId="exp_solo_rating")]
    )
    assert "belongs to exp_research_001, not exp_solo_rating" in result.errors[0].errors[0]


def test_it_refuses_new_data_for_completed_experiments(world, member):
    Experiment.objects.filter(pk=world.experiment.pk).update(status="completed")
    result = ingest("events", [event_record(member, "ev_late")])
    assert result.accepted == 0
    assert "is completed and accepts no new data" in result.errors[0].errors[0]


def test_it_validates_json_lists_and_numbers(member):
    ts = T.iso(member.room.started_at + timedelta(seconds=3))
    base = {"roomId": member.room.public_id, "timestamp": ts}
    chat = ingest(
        "chat",
        [
            {
                **base,
                "messageId": "msg_ok",
                "senderId": member.participant.public_id,
                "content": "<b>hi</b>",
                "recipientIds": [],
            },
            {
                **base,
                "messageId": "msg_bad",
                "senderId": member.participant.public_id,
                "content": "x",
                "recipientIds": "everyone",
            },
            {
                **base,
                "messageId": "msg_nul",
                "senderId": member.participant.public_id,
                "content": "a\x00b",
            },
        ],
    )
    assert chat.accepted == 1
    assert ChatMessage.objects.get(record_id="msg_ok").content == "<b>hi</b>"
    sparse = ingest(
        "ratings/sparse",
        [
            {
                **base,
                "ratingId": "sr_ok",
                "participantId": member.participant.public_id,
                "componentId": "mood",
                "value": 7,
                "labels": {"min": "sad", "max": "happy"},
            },
            {
                **base,
                "ratingId": "sr_nan",
                "participantId": member.participant.public_id,
                "componentId": "mood",
                "value": float("nan"),
            },
            {
                **base,
                "ratingId": "sr_bool",
                "participantId": member.participant.public_id,
                "componentId": "mood",
                "value": True,
            },
        ],
    )
    assert sparse.accepted == 1
    assert SparseRating.objects.get(record_id="sr_ok").labels == {"min": "sad", "max": "happy"}
    assert {e.id for e in sparse.errors} == {"sr_nan", "sr_bool"}


def test_it_derives_a_stable_id_for_component_snapshots(member):
    record = {
        "componentId": "intro",
        "componentType": "ShowText",
        "roomId": member.room.public_id,
        "participantId": member.participant.public_id,
        "config": {"text": "hi"},
        "timestamp": T.iso(member.room.started_at),
    }
    assert ingest("components", [record]).accepted == 1
    assert ingest("components", [record]).duplicates == 1
    assert ComponentSnapshot.objects.filter(component_id="intro").count() == 1


def test_it_reports_ids_with_nul_characters_instead_of_looking_them_up(member):
    result = ingest(
        "events",
        [
            event_record(member, "ev_nul_room", sessionId="room\x00x"),
            event_record(member, "ev_nul_person", participantId="user\x00x"),
        ],
    )
    assert result.accepted == 0
    assert "sessionId: must not contain NUL characters" in result.errors[0].errors
    assert "participantId: must not contain NUL characters" in result.errors[1].errors
