"""The column chooser: sensible defaults per data type, a reader's choice remembered per user
and per type (Profile.table_columns), post/redirect/get, bad input as a form error."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from data_browser import datatypes as T
from data_browser.models import Profile
from tests.conftest import login_client

pytestmark = pytest.mark.django_db


def shown_columns(body: str) -> list[str]:
    thead = body.split("<thead>", 1)[1].split("</thead>", 1)[0]
    return re.findall(r'<th [^>]*data-field="([^"]+)"', thead)


def checked(body: str) -> list[str]:
    panel = body.split('class="chooser-panel"', 1)[1].split("</form>", 1)[0]
    return re.findall(r'<input type="checkbox" name="columns" value="([^"]+)"[^>]*checked', panel)


def stored(world, role: str) -> dict:
    return Profile.objects.get(user=world.user(role)).table_columns


@pytest.fixture
def room_url(world) -> str:
    return reverse(
        "data_browser:room_data", args=[world.experiment.public_id, world.room.public_id]
    )


def test_each_type_starts_with_its_default_columns(client, world, room_url):
    login_client(client, world, "owner")
    body = client.get(room_url + "?tab=events").content.decode()
    columns = shown_columns(body)
    assert "eventType" in columns and "content" in columns
    assert not set(T.EVENTS.hidden) & set(columns)
    assert checked(body) == columns  # the chooser says what is shown
    assert 'value="componentId"' in body  # and offers what is not
    sync = shown_columns(client.get(room_url + "?tab=sync").content.decode())
    assert "timeDrift" in sync and "metricId" not in sync


def test_a_chosen_column_set_is_remembered_per_user_and_type_and_survives_reload(
    client, world, room_url
):
    login_client(client, world, "owner")
    url = room_url + "?tab=events&category=component"
    columns = shown_columns(client.get(url).content.decode())
    keep = [c for c in columns if c != "content"] + ["componentId"]
    response = client.post(url, {"columns": keep})
    assert response.status_code == 302 and response["Location"] == url  # post/redirect/get
    saved = stored(world, "owner")["events"]
    assert "content" not in saved and "componentId" in saved
    assert saved == [f for f in T.EVENTS.field_names if f in saved]  # in the registry's order
    again = client.get(url).content.decode()
    assert "content" not in shown_columns(again) and "componentId" in shown_columns(again)
    assert "content" in shown_columns(client.get(room_url + "?tab=chat").content.decode())
    login_client(client, world, "collaborator")
    room = world.room_ref("collaborator")
    other = reverse("data_browser:room_data", args=[world.experiment.public_id, room])
    assert "content" in shown_columns(client.get(other + "?tab=events").content.decode())


def test_a_choice_on_one_level_keeps_the_columns_it_does_not_show(client, world, room_url):
    """The participant's own viewer has no participant column: choosing there keeps it."""
    login_client(client, world, "owner")
    exp, room, pid = world.experiment.public_id, world.room.public_id, world.participant.public_id
    viewer = reverse("data_browser:participant", args=[exp, room, pid]) + "?tab=events"
    assert client.post(viewer, {"columns": ["timestamp", "eventType"]}).status_code == 302
    kept = ["timestamp", "experimentId", "sessionId", "participantId", "eventType"]
    assert stored(world, "owner")["events"] == kept
    assert shown_columns(client.get(viewer).content.decode()) == ["timestamp", "eventType"]
    room_tab = shown_columns(client.get(room_url + "?tab=events").content.decode())
    assert room_tab == ["timestamp", "participantId", "eventType"]


def test_defaults_come_back_on_request(client, world, room_url):
    login_client(client, world, "owner")
    url = room_url + "?tab=events"
    client.post(url, {"columns": ["timestamp"]})
    body = client.get(url).content.decode()
    assert shown_columns(body) == ["timestamp"] and "Default columns" in body
    assert client.post(url, {"reset": "1"}).status_code == 302
    assert "events" not in stored(world, "owner")
    body = client.get(url).content.decode()
    assert len(shown_columns(body)) > 5 and "Default columns" not in body


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"columns": ["timestamp", "bogus"]}, "There is no column “bogus” in this table."),
        ({"columns": ["timestamp", "experimentId"]}, "There is no column “experimentId”"),
        ({}, "Keep at least one column."),
    ],
)
def test_an_unknown_or_empty_choice_is_a_form_error_not_a_500(client, world, room_url, data, error):
    login_client(client, world, "owner")
    before = stored(world, "owner")
    response = client.post(room_url + "?tab=events", data)
    assert response.status_code == 400
    body = response.content.decode()
    assert error in body and '<details class="column-chooser" open>' in body
    assert shown_columns(body)  # the tab is still there, with the columns as they were
    assert stored(world, "owner") == before


def test_a_hand_edited_preference_falls_back_to_the_defaults(client, world, room_url):
    Profile.objects.filter(user=world.user("owner")).update(
        table_columns={"events": "all", "sync": ["nothing_here"]}
    )
    login_client(client, world, "owner")
    events = client.get(room_url + "?tab=events")
    assert events.status_code == 200
    assert "eventType" in shown_columns(events.content.decode())
    sync = client.get(room_url + "?tab=sync")
    assert sync.status_code == 200 and "timeDrift" in shown_columns(sync.content.decode())


def test_a_de_identified_reader_chooses_among_the_columns_they_see(client, world):
    login_client(client, world, "collaborator")
    room = world.room_ref("collaborator")
    url = reverse("data_browser:room_data", args=[world.experiment.public_id, room])
    body = client.get(url + "?tab=recordings").content.decode()
    assert 'value="participantName"' not in body  # names are not theirs to see
    response = client.post(url + "?tab=recordings", {"columns": ["participantName"]})
    assert response.status_code == 400
