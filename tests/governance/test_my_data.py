"""My data: a participant's sessions and own records, everyone else by code."""

from __future__ import annotations

import pytest
from django.urls import reverse

from data_browser import datatypes as T
from data_browser.identity import participant_code
from data_browser.models import ChatMessage, RoomParticipant

pytestmark = pytest.mark.django_db

MY_DATA = reverse("data_browser:my_data")


def others(world):
    return [
        rp.participant
        for rp in RoomParticipant.objects.filter(room=world.room)
        .exclude(participant=world.participant)
        .select_related("participant")
    ]


def test_it_lists_the_sessions_with_co_participants_as_codes(client, world):
    client.force_login(world.user("participant"))
    response = client.get(MY_DATA)
    assert response.status_code == 200
    body = response.content.decode()
    assert world.room.public_id in body
    for p in others(world):
        assert participant_code(world.experiment.public_id, p.public_id) in body
        assert p.public_id not in body and p.display_name not in body


@pytest.mark.parametrize("dt", T.DATA_TYPES, ids=lambda dt: dt.key)
def test_it_shows_only_their_own_records_of_every_type(client, world, dt):
    client.force_login(world.user("participant"))
    response = client.get(MY_DATA, {"type": dt.key})
    assert response.status_code == 200
    page = response.context["page"]
    own = dt.model.objects.filter(participant=world.participant).count()
    assert page.paginator.count == own
    body = response.content.decode()
    for p in others(world):
        assert p.public_id not in body
        assert p.email not in body


def test_columns_read_as_in_the_data_viewer(client, world):
    """Readable headers with the field's name on hover, times labelled with the reader's zone
    (the headers were the API's field names)."""
    client.force_login(world.user("participant"))
    body = client.get(MY_DATA, {"type": "chat"}).content.decode()
    assert '<th title="messageId">Message ID</th>' in body
    assert '<th title="timestamp">Timestamp (UTC)</th>' in body
    assert "<th>senderId</th>" not in body


def test_chat_recipients_are_codes(client, world):
    assert ChatMessage.objects.filter(participant=world.participant).exists()
    client.force_login(world.user("participant"))
    response = client.get(MY_DATA, {"type": "chat"})
    rows = response.context["page"].records
    recipients = [dict(r)["recipientIds"] for r in rows]
    codes = {participant_code(world.experiment.public_id, p.public_id) for p in others(world)}
    assert recipients and all(set(r) <= codes for r in recipients)
    assert all(dict(r)["senderId"] == world.participant.public_id for r in rows)


def test_tabs_are_htmx_partials_of_the_same_url(client, world):
    client.force_login(world.user("participant"))
    partial = client.get(MY_DATA, {"type": "sync"}, headers={"HX-Request": "true"})
    assert partial.status_code == 200
    assert "<html" not in partial.content.decode()
    assert 'data-type="sync"' in partial.content.decode()
    full = client.get(MY_DATA, {"type": "sync"})
    assert "<html" in full.content.decode() and 'data-type="sync"' in full.content.decode()
    assert "My sessions" in full.content.decode() and "My sessions" not in partial.content.decode()
    # The back button after htmx's history cache is gone asks for the whole page.
    restore = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    restored = client.get(MY_DATA, {"type": "sync"}, headers=restore).content.decode()
    assert "<html" in restored and "My sessions" in restored


def test_an_unknown_type_falls_back_to_events(client, world):
    client.force_login(world.user("participant"))
    response = client.get(MY_DATA, {"type": "<script>", "page": "abc"})
    assert response.status_code == 200
    assert response.context["dt"] is T.EVENTS
