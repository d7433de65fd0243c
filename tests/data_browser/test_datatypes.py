"""The one description of the seven data types matches the API reference."""

from __future__ import annotations

import pytest

from data_browser import datatypes as T
from data_browser.models import Event

# Field names and order as the API reference documents them.
REFERENCE = {
    "events": [
        "id",
        "timestamp",
        "onset",
        "experimentId",
        "sessionId",
        "participantId",
        "eventType",
        "category",
        "componentType",
        "componentId",
        "content",
        "stateName",
        "participantRole",
        "duration",
        "response",
    ],
    "recordings": [
        "recordingId",
        "participantId",
        "participantName",
        "experimentId",
        "roomId",
        "startTime",
        "endTime",
        "duration",
        "videoOffset",
        "downloadUrl",
        "fileSize",
        "status",
        "format",
        "resolution",
    ],
    "chat": [
        "messageId",
        "experimentId",
        "roomId",
        "senderId",
        "senderName",
        "content",
        "timestamp",
        "onset",
        "recipientIds",
        "messageType",
    ],
    "ratings/continuous": [
        "ratingId",
        "experimentId",
        "roomId",
        "participantId",
        "componentId",
        "timestamp",
        "onset",
        "value",
        "normalizedValue",
        "rawValue",
        "scaleMin",
        "scaleMax",
    ],
    "ratings/sparse": [
        "ratingId",
        "experimentId",
        "roomId",
        "participantId",
        "componentId",
        "timestamp",
        "onset",
        "value",
        "responseTime",
        "scaleMin",
        "scaleMax",
        "labels",
    ],
    "sync": [
        "metricId",
        "experimentId",
        "roomId",
        "participantId",
        "timestamp",
        "onset",
        "timeDrift",
        "playbackRate",
        "syncQuality",
        "latency",
        "bufferHealth",
    ],
    "components": [
        "componentId",
        "componentType",
        "experimentId",
        "stateId",
        "config",
        "timestamp",
        "onset",
        "variableSnapshot",
    ],
}
SCOPES = {
    "events": "read:events",
    "recordings": "read:recordings",
    "chat": "read:chat",
    "ratings/continuous": "read:ratings",
    "ratings/sparse": "read:ratings",
    "sync": "read:sync",
    "components": "read:components",
}


@pytest.mark.parametrize("api_name", list(REFERENCE))
def test_it_lists_the_documented_fields_in_order(api_name):
    dt = T.get(api_name)
    documented = REFERENCE[api_name]
    assert dt.field_names[: len(documented)] == documented
    assert dt.scope == SCOPES[api_name]


def test_it_finds_types_by_key_and_api_name():
    assert T.get("continuous") is T.get("ratings/continuous")
    assert T.get("ratings/sparse").file_stem == "ratings_sparse"
    with pytest.raises(KeyError):
        T.get("nope")


@pytest.mark.django_db
def test_it_reads_records_in_api_form(world):
    rows = T.select(T.EVENTS, Event.objects.filter(room=world.room).order_by("onset"))[:1]
    (record,) = list(T.to_records(T.EVENTS, rows))
    assert record["sessionId"] == world.room.public_id
    assert record["experimentId"] == "exp_research_001"
    assert record["timestamp"].endswith("Z")
    assert record["onset"] < 0  # setup events come before the start
