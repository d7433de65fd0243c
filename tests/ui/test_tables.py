"""Tables that explain themselves: readable headers with the API name on hover, times in the
reader's zone (labelled), durations in words, numbers with separators, long values cut short,
and sync rows in their drift colour band."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from data_browser.models import Profile
from data_browser.presentations import drift_band
from tests.conftest import login_client
from tests.factories import (
    EventFactory,
    RoomFactory,
    RoomParticipantFactory,
    SyncMetricFactory,
)

pytestmark = pytest.mark.django_db

START = datetime(2026, 7, 1, 9, 0, 0, tzinfo=UTC)


def header_cells(body: str) -> dict[str, dict[str, str]]:
    """Each header of the (first) table by its API name: its text and tooltip."""
    thead = body.split("<thead>", 1)[1].split("</thead>", 1)[0]
    cells = {}
    for attrs, inner in re.findall(r"<th ([^>]*)>(.*?)</th>", thead, re.S):
        found = dict(re.findall(r'([\w-]+)="([^"]*)"', attrs))
        if "data-field" in found:
            text = unescape(re.sub(r"<[^>]+>", "", inner)).strip()
            cells[found["data-field"]] = {"text": text, "title": unescape(found.get("title", ""))}
    return cells


def body_rows(body: str) -> list[tuple[str, list[str]]]:
    """Each row of the (first) table: its class and the visible text of its cells."""
    tbody = re.split(r"<tbody[^>]*>", body, maxsplit=1)[1].split("</tbody>", 1)[0]
    out = []
    for attrs, inner in re.findall(r"<tr([^>]*)>(.*?)</tr>", tbody, re.S):
        css = re.search(r'class="([^"]*)"', attrs)
        cells = re.findall(r"<td[^>]*>(.*?)</td>", inner, re.S)
        out.append(
            (css.group(1) if css else "", [unescape(re.sub(r"<[^>]+>", "", c)) for c in cells])
        )
    return out


@pytest.fixture
def room(world):
    """A room of the demo experiment with one participant and records of known values."""
    room = RoomFactory(
        experiment=world.experiment,
        public_id="room_tables0001",
        started_at=START,
        ended_at=START + timedelta(minutes=20),
    )
    RoomParticipantFactory(room=room, participant=world.participant)
    return room


def room_tab(client, world, room, tab: str) -> str:
    url = reverse("data_browser:room_data", args=[world.experiment.public_id, room.public_id])
    response = client.get(f"{url}?tab={tab}")
    assert response.status_code == 200
    return response.content.decode()


def test_record_tables_head_their_columns_readably_with_the_api_name_on_hover(client, world, room):
    login_client(client, world, "owner")
    EventFactory(room=room, participant=world.participant, component_type="ShowVideo")
    heads = header_cells(room_tab(client, world, room, "events"))
    assert heads["componentType"]["text"] == "Component type"
    assert heads["componentType"]["title"].startswith("componentType: Component that generated")
    assert heads["eventType"]["text"] == "Event type"
    assert heads["participantId"]["text"] == "Participant"
    assert heads["onset"]["title"].endswith("(ms)")
    for name, head in heads.items():
        assert head["text"] != name or name.islower(), f"{name} is headed by its API name"
        assert head["title"].startswith(f"{name}: ")


def test_the_hierarchy_tables_head_their_columns_with_the_api_name_on_hover(client, world, room):
    login_client(client, world, "owner")
    exp = world.experiment.public_id
    experiments = header_cells(client.get(reverse("data_browser:experiments")).content.decode())
    assert experiments["participantCount"]["text"] == "Participants"
    assert experiments["createdAt"]["text"] == "Created (UTC)"
    rooms = header_cells(
        client.get(reverse("data_browser:experiment", args=[exp])).content.decode()
    )
    assert rooms["roomId"]["title"].startswith("roomId: ")
    assert rooms["startTime"]["text"] == "Start (UTC)" and rooms["endTime"]["text"] == "End (UTC)"
    assert rooms["duration"]["title"].startswith("duration: ")
    people = client.get(reverse("data_browser:room", args=[exp, room.public_id])).content.decode()
    people_heads = header_cells(people)
    assert people_heads["participantId"]["text"] == "Participant"
    assert people_heads["joinedAt"]["text"] == "Joined (UTC)"


def test_times_show_in_the_readers_zone_labelled_and_never_as_iso_strings(client, world, room):
    login_client(client, world, "owner")
    Profile.objects.filter(user=world.user("owner")).update(time_zone="Europe/Berlin")
    EventFactory(room=room, participant=world.participant, onset=90_000)
    body = room_tab(client, world, room, "events")
    heads = header_cells(body)
    assert heads["timestamp"]["text"] == "Timestamp (Europe/Berlin)"
    moment = (START + timedelta(seconds=90)).astimezone(ZoneInfo("Europe/Berlin"))
    [(_, cells)] = body_rows(body)
    assert moment.strftime("%Y-%m-%d %H:%M:%S") in cells  # 11:01:30, summer time
    iso = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")
    assert not [c for c in cells if iso.search(c)], cells
    assert 'title="2026-07-01T09:01:30.000Z"' in body  # the exact instant on hover

    rooms = client.get(reverse("data_browser:experiment", args=[world.experiment.public_id]))
    page = rooms.content.decode()
    assert header_cells(page)["startTime"]["text"] == "Start (Europe/Berlin)"
    row = next(cells for _, cells in body_rows(page) if room.public_id in cells[0])
    assert "2026-07-01 11:00:00" in row and "2026-07-01 11:20:00" in row
    assert row[-1] == "20 min 0 s"  # not 20:00


def test_durations_read_in_words_and_numbers_with_separators(client, world, room):
    login_client(client, world, "owner")
    EventFactory(room=room, participant=world.participant, onset=1_234_567, duration=1_200_000)
    SyncMetricFactory(room=room, participant=world.participant, latency=1234.5, time_drift=3.0)
    [(_, cells)] = body_rows(room_tab(client, world, room, "events"))
    assert "1,234,567 ms" in cells and "20 min 0 s" in cells
    [(_, cells)] = body_rows(room_tab(client, world, room, "sync"))
    assert "1,234.50 ms" in cells


def test_long_text_and_json_are_cut_short_in_the_cell_and_whole_on_hover(client, world, room):
    login_client(client, world, "owner")
    long = "A long description of what happened " * 8
    response = {"answer": "no", "notes": "x" * 80, "nested": {"a": [1, 2, 3]}}
    EventFactory(room=room, participant=world.participant, content=long.strip(), response=response)
    EventFactory(room=room, participant=world.participant, content="short", response={"a": 1})
    body = room_tab(client, world, room, "events")
    assert f'<div class="text clip" title="{long.strip()}">' in body
    assert '<div class="text clip">short</div>' in body
    whole = re.search(r'<code class="json clip" title="(\{\n  [^"]*)">\{[^\n<]*\}</code>', body)
    assert whole and "&quot;answer&quot;: &quot;no&quot;,\n" in whole.group(1)  # indented
    assert '<code class="json clip">{&quot;a&quot;: 1}</code>' in body
    assert "<pre" not in re.split(r"<tbody[^>]*>", body, maxsplit=1)[1].split("</tbody>", 1)[0]


def test_sync_rows_carry_the_colour_band_of_their_drift(client, world, room):
    login_client(client, world, "owner")
    drifts = [12.5, -99.9, 100.0, -250.0, 500.0, 500.1, -900.0, None]
    for i, drift in enumerate(drifts):
        SyncMetricFactory(room=room, participant=world.participant, onset=i, time_drift=drift)
    body = room_tab(client, world, room, "sync")
    thead = body.split("<thead>", 1)[1].split("</thead>", 1)[0]
    column = re.findall(r"<th ([^>]*)>", thead).index(
        next(a for a in re.findall(r"<th ([^>]*)>", thead) if 'data-field="timeDrift"' in a)
    )
    rows = body_rows(body)
    assert len(rows) == len(drifts)
    bands = []
    for css, cells in rows:
        band = next((c[5:] for c in css.split() if c.startswith("band-")), None)
        text = cells[column]
        drift = None if text == "—" else float(text.replace(",", "").split()[0])
        assert band == drift_band(drift), (css, text)
        bands.append(band)
    assert bands == ["good", "good", "fair", "fair", "fair", "poor", "poor", None]
