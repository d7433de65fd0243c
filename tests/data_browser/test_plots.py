"""Plots: continuous ratings per component and sync metrics over onset, as server-side SVG."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse

from data_browser import plots
from data_browser.identity import participant_code
from data_browser.ingest import ingest
from data_browser.models import ContinuousRating, RoomParticipant
from tests.conftest import login_client

pytestmark = pytest.mark.django_db


def body_of(client, name: str, *args: str, query: str = "") -> str:
    response = client.get(reverse(f"data_browser:{name}", args=args) + query)
    assert response.status_code == 200
    return response.content.decode()


def polylines(svg: str) -> list[list[str]]:
    return [p.split() for p in re.findall(r'<polyline[^>]* points="([^"]*)"', svg)]


def test_the_room_page_plots_ratings_and_sync_per_participant(client, world):
    login_client(client, world, "owner")
    exp, room = world.experiment.public_id, world.room.public_id
    body = body_of(client, "room_plots", exp, room)
    people = RoomParticipant.objects.filter(room=world.room).count()
    for slug in ("rating-emotion_rating", "sync-drift", "sync-quality"):
        figure = body.split(f'id="plot-{slug}"', 1)[1].split("</figure>", 1)[0]
        assert "<svg" in figure
        assert len(polylines(figure)) == people
    assert "onset (s)" in body


def test_the_participant_page_plots_one_line(client, world):
    login_client(client, world, "owner")
    exp, room, pid = world.experiment.public_id, world.room.public_id, world.participant.public_id
    body = body_of(client, "participant_plots", exp, room, pid)
    figure = body.split('id="plot-rating-emotion_rating"', 1)[1].split("</figure>", 1)[0]
    assert len(polylines(figure)) == 1
    n = ContinuousRating.objects.filter(room=world.room, participant=world.participant).count()
    assert f"{n} samples" in figure


def test_it_downsamples_long_series(client, world):
    start = world.room.started_at + timedelta(minutes=5)
    records = [
        {
            "ratingId": f"crating_bulk_{i}",
            "roomId": world.room.public_id,
            "participantId": world.participant.public_id,
            "componentId": "long_rating",
            "timestamp": (start + timedelta(milliseconds=100 * i)).isoformat(),
            "value": (i % 100) / 100,
        }
        for i in range(3000)
    ]
    assert ingest("continuous", records, accept_closed=True).accepted == 3000
    login_client(client, world, "owner")
    exp, room, pid = world.experiment.public_id, world.room.public_id, world.participant.public_id
    body = body_of(client, "participant_plots", exp, room, pid, query="?plot=rating-long_rating")
    (line,) = polylines(body)
    assert 100 < len(line) <= plots.MAX_POINTS
    assert "3000 samples" in body


def test_it_labels_lines_with_codes_for_deidentified_users(client, world):
    login_client(client, world, "collaborator")
    exp, room = world.experiment.public_id, world.room_ref("collaborator")
    body = body_of(client, "room_plots", exp, room)
    assert participant_code(exp, world.participant.public_id) in body
    assert world.participant.public_id not in body


def test_a_plot_opens_on_its_own_page(client, world):
    login_client(client, world, "owner")
    exp, room = world.experiment.public_id, world.room.public_id
    body = body_of(client, "room_plots", exp, room)
    link = re.search(r'class="open-plot" href="([^"]+)"', body).group(1)
    single = client.get(link).content.decode()
    assert single.count('<svg class="plot"') == 1 and "<html" in single
    other = body_of(client, "room_plots", exp, room, query="?plot=nope")
    assert "There is no plot “nope”" in other and other.count('<svg class="plot"') == 3


def test_the_room_page_loads_its_plots_lazily(client, world):
    login_client(client, world, "owner")
    exp, room = world.experiment.public_id, world.room.public_id
    page = body_of(client, "room", exp, room)
    url = reverse("data_browser:room_plots", args=[exp, room])
    assert f'hx-get="{url}"' in page and f'<a href="{url}">Plots</a>' in page
    partial = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial and "<svg" in partial


def test_the_svg_escapes_labels_and_handles_a_single_point():
    plot = plots.Plot("x", "<b>title</b>", "v", [plots.Series("<script>", [(1000.0, 0.5)])])
    svg = str(plot.svg())
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "&lt;b&gt;title" in svg
    assert "No data" in str(plots.render_svg(plots.Plot("y", "t", "v")))
