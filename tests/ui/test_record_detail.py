"""Click a row to expand it: the whole record, for events the variables in force at the time of
the event, and the raw JSON, read through the one access path (a record out of reach is a 404,
a de-identified reader gets the de-identified record)."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from data_browser import datatypes as T
from data_browser import formats
from data_browser.identity import participant_code, record_code
from tests.conftest import login_client
from tests.factories import (
    ComponentSnapshotFactory,
    EventFactory,
    ParticipantFactory,
    RoomFactory,
    RoomParticipantFactory,
)

pytestmark = pytest.mark.django_db
HX = {"HX-Request": "true"}


def detail_url(experiment, dt: T.DataType, pk) -> str:
    return reverse("data_browser:record_detail", args=[experiment.public_id, dt.key, pk])


@pytest.fixture
def session(world):
    """A room of the demo experiment with two participants, snapshots of the first before,
    at and after an event of theirs, and a later snapshot of the other participant."""
    room = RoomFactory(experiment=world.experiment, public_id="room_detail0a1b2c")
    me = ParticipantFactory(public_id="p_detail_me", display_name="Ottoline Brask")
    other = ParticipantFactory(public_id="p_detail_other")
    for who in (me, other):
        RoomParticipantFactory(room=room, participant=who)

    def snap(who, onset, variables):
        return ComponentSnapshotFactory(
            room=room,
            participant=who,
            onset=onset,
            component_id=f"survey_{onset}",
            variable_snapshot=variables,
        )

    snap(me, 1_000, {"score": 1, "phase": "practice"})
    in_force = snap(me, 3_000, {"score": 3, "phase": "main", "ready": True, "note": None})
    snap(other, 3_500, {"score": 77})
    snap(me, 9_000, {"score": 9})
    event = EventFactory(
        room=room,
        participant=me,
        onset=4_000,
        record_id="evt_detail_1",
        event_type="component.complete",
        component_id="survey_3000",
        participant_role="host",
        duration=1_250,
        content="Answered the survey",
        response={"value": "no", "responseTime": 812, "confirmed": False},
    )
    at_same_time = EventFactory(room=room, participant=me, onset=3_000, record_id="evt_detail_2")
    before_any = EventFactory(room=room, participant=me, onset=500, record_id="evt_detail_3")
    return {
        "room": room,
        "me": me,
        "other": other,
        "event": event,
        "in_force": in_force,
        "at_same_time": at_same_time,
        "before_any": before_any,
    }


def test_every_event_row_has_a_button_that_loads_its_record(client, world, session):
    login_client(client, world, "owner")
    exp, room = world.experiment.public_id, session["room"].public_id
    page = client.get(f"/e/{exp}/r/{room}/data/?tab=events").content.decode()
    buttons = re.findall(r'<button type="button" class="row-toggle"[^>]*>', page)
    assert len(buttons) == 3
    url = detail_url(world.experiment, T.EVENTS, session["event"].pk)
    button = next(b for b in buttons if f'data-row-detail="{url}"' in b)
    assert 'aria-expanded="false"' in button and 'aria-label="Show the whole record"' in button
    assert "hx-" not in button  # how htmx loads a record is said once, by the tbody
    (tbody,) = re.findall(r"<tbody[^>]*>", page)
    assert 'hx-target="closest tr"' in tbody and 'hx-swap="afterend"' in tbody
    assert 'hx-push-url="false"' in tbody  # the region pushes its URL; an expanded row does not
    assert '<th class="toggle">Details</th>' in page


def test_the_owner_sees_the_whole_event_its_variables_then_and_the_raw_json(client, world, session):
    login_client(client, world, "owner")
    event = session["event"]
    response = client.get(detail_url(world.experiment, T.EVENTS, event.pk), headers=HX)
    assert response.status_code == 200
    body = response.content.decode()
    assert body.startswith('<tr class="record-detail"')
    assert body.rstrip().endswith("</tr>")
    assert "<html" not in body  # htmx gets the row, not the page
    for f in T.EVENTS.fields:  # every field, by its readable name, the API name on hover
        assert f">{f.label}</dt>" in body, f.name
        assert f'title="{f.name}: ' in body
    assert "Event type" in body and "Participant role" in body
    assert formats.when(event.timestamp) in body  # times as the viewer shows them
    assert '1,250 ms <span class="muted">(1.2 s)</span>' in body  # durations in words too
    assert "Answered the survey" in body
    # Variables in force: the participant's latest snapshot at or before the event.
    variables = body.split("Variable states at the time of the event", 1)[1]
    assert "survey_3000" in variables
    assert "&quot;main&quot;" in variables and "true" in variables and "null" in variables
    assert "77" not in variables.split("Raw JSON")[0]  # the other participant's snapshot
    assert "&quot;practice&quot;" not in variables and ">9<" not in variables
    # Raw JSON: the record as the API shows it.
    raw = re.search(r'<pre class="json" tabindex="0">(.*?)</pre>', body, re.S).group(1)
    raw = json.loads(raw.replace("&quot;", '"').replace("&#x27;", "'"))
    assert raw["id"] == "evt_detail_1" and raw["participantId"] == "p_detail_me"
    assert raw["response"] == {"value": "no", "responseTime": 812, "confirmed": False}
    for python in ("None", "True", "False", "{'"):
        assert python not in body, python


def test_a_snapshot_at_the_events_own_moment_is_in_force_and_none_before_the_first(
    client, world, session
):
    login_client(client, world, "owner")
    same = client.get(detail_url(world.experiment, T.EVENTS, session["at_same_time"].pk)).content
    assert b"survey_3000" in same
    first = client.get(
        detail_url(world.experiment, T.EVENTS, session["before_any"].pk), headers=HX
    ).content.decode()
    assert "No component snapshot before this event." in first


def test_a_plain_request_is_the_records_own_page(client, world, session):
    login_client(client, world, "owner")
    response = client.get(detail_url(world.experiment, T.EVENTS, session["event"].pk))
    body = response.content.decode()
    assert response.status_code == 200 and "<html" in body
    assert "<h1>Events record</h1>" in body and 'aria-label="Breadcrumb"' in body
    assert "Variable states at the time of the event" in body
    assert response.headers["Vary"].count("HX-Request") == 1


def test_the_collaborator_sees_codes_and_the_de_identified_record(client, world, session):
    login_client(client, world, "collaborator")
    exp = world.experiment.public_id
    body = client.get(
        detail_url(world.experiment, T.EVENTS, session["event"].pk), headers=HX
    ).content.decode()
    assert participant_code(exp, "p_detail_me") in body
    assert record_code(exp, "evt_detail_1") in body
    for identifier in ("p_detail_me", "evt_detail_1", "room_detail0a1b2c", "detail0a1b2c"):
        assert identifier not in body
    assert "survey_3000" in body  # the snapshot in force, de-identified like the record


def test_records_out_of_reach_unknown_or_malformed_are_404(client, world, session):
    event = session["event"]
    login_client(client, world, "outsider")
    assert client.get(detail_url(world.experiment, T.EVENTS, event.pk)).status_code == 404
    login_client(client, world, "owner")
    # A record of another experiment through this one's URL, and this one's through another's.
    other_room = RoomFactory(experiment=world.solo)
    elsewhere = EventFactory(room=other_room)
    assert client.get(detail_url(world.experiment, T.EVENTS, elsewhere.pk)).status_code == 404
    assert client.get(detail_url(world.other, T.EVENTS, event.pk)).status_code == 404
    # The right type only: an event's id on the chat tab is no chat message.
    assert client.get(detail_url(world.experiment, T.CHAT, event.pk)).status_code == 404
    exp = world.experiment.public_id
    for bad in ("999999999", "abc", "-1", "1e3", "9" * 40, "١٢"):
        url = f"/e/{exp}/records/events/{bad}/"
        assert client.get(url).status_code == 404, bad
        assert client.get(url, headers=HX).status_code == 404, bad
    assert client.get(f"/e/{exp}/records/nosuchtab/{event.pk}/").status_code == 404


def test_a_participant_account_opens_its_own_records_only(client, world):
    login_client(client, world, "participant")
    exp = world.experiment
    own = T.EVENTS.model.objects.filter(participant=world.participant, experiment=exp).first()
    others = (
        T.EVENTS.model.objects.filter(room=world.room, experiment=exp)
        .exclude(participant=world.participant)
        .first()
    )
    assert client.get(detail_url(exp, T.EVENTS, own.pk)).status_code == 200
    assert client.get(detail_url(exp, T.EVENTS, others.pk)).status_code == 404


@pytest.mark.parametrize("dt", T.DATA_TYPES, ids=lambda dt: dt.key)
def test_every_tabs_rows_expand_into_their_whole_record(client, world, dt):
    login_client(client, world, "owner")
    exp, room = world.experiment.public_id, world.room.public_id
    page = client.get(f"/e/{exp}/r/{room}/data/?tab={dt.key}").content.decode()
    urls = re.findall(r'class="row-toggle" data-row-detail="([^"]+)"', page)
    assert urls, f"no expandable row on the {dt.key} tab"
    body = client.get(urls[0], headers=HX).content.decode()
    assert body.startswith('<tr class="record-detail"')
    for f in dt.fields:
        assert f">{f.label}</dt>" in body, f.name
    assert ("Variable states at the time of the event" in body) == (dt is T.EVENTS)
    assert "Raw JSON" in body
    if dt is T.RECORDINGS:
        assert re.search(r'title="\d+ bytes">[\d.]+\xa0(bytes|KB|MB)', body)  # sizes in units
    for python in ("None", "True", "False", "{'"):
        assert python not in body, python


def test_the_experiment_and_participant_levels_link_the_same_detail(client, world):
    login_client(client, world, "owner")
    exp, room, ref = world.experiment.public_id, world.room.public_id, world.participant.public_id
    first = T.EVENTS.model.objects.filter(participant=world.participant, room=world.room)
    first = first.order_by("onset", "id").first()
    url = detail_url(world.experiment, T.EVENTS, first.pk)
    assert url in client.get(f"/e/{exp}/r/{room}/p/{ref}/?tab=events").content.decode()
    page = client.get(f"/e/{exp}/data/?tab=events").content.decode()
    assert page.count('class="row-toggle"') == 50  # a full page of the experiment's events
