"""The Data Viewer's own presentations: sync summary and bands, chat transcript, recording
cards; as the interface guide describes them and as a researcher sees them."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from data_browser import access
from data_browser import datatypes as T
from data_browser.presentations import drift_band
from tests.conftest import login_client


def room_tab(world, tab: str, role: str = "owner") -> str:
    args = [world.experiment.public_id, world.room_ref(role)]
    return reverse("data_browser:room_data", args=args) + f"?tab={tab}"


@pytest.mark.parametrize(
    ("drift", "band"),
    [
        (0, "good"),
        (99.9, "good"),
        (-99.9, "good"),
        (100, "fair"),
        (-500, "fair"),
        (500.1, "poor"),
        (-2000, "poor"),
        (None, None),
    ],
)
def test_drift_bands_follow_the_guide(drift, band):
    assert drift_band(drift) == band


def test_the_sync_tab_summarises_drift_quality_and_samples(client, world):
    login_client(client, world, "owner")
    body = client.get(room_tab(world, "sync")).content.decode()
    metrics = access.for_user(world.user("owner")).records(T.SYNC).filter(room=world.room)
    drifts = [abs(d) for d in metrics.values_list("time_drift", flat=True) if d is not None]
    assert 'aria-label="Sync summary"' in body
    assert f'data-samples="{metrics.count()}"' in body
    assert f"{max(drifts):.1f} ms" in body
    assert f"{sum(drifts) / len(drifts):.1f} ms" in body
    qualities = [q for q in metrics.values_list("sync_quality", flat=True) if q is not None]
    assert f"{100 * sum(qualities) / len(qualities):.1f}%" in body
    for band in ("good", "fair", "poor"):
        n = sum(1 for d in drifts if drift_band(d) == band)
        assert re.search(
            rf'data-band="{band}"><i class="band-{band}"></i>[^<]*<strong>{n}</strong>', body
        )


def test_the_sync_summary_follows_the_filters(client, world):
    login_client(client, world, "owner")
    body = client.get(room_tab(world, "sync") + "&onsetTo=-999999").content.decode()
    assert 'data-samples="0"' in body and "matching the filters" in body


def test_the_chat_tab_is_a_chronological_transcript_with_colour_coded_senders(client, world):
    login_client(client, world, "owner")
    body = client.get(room_tab(world, "chat")).content.decode()
    messages = access.for_user(world.user("owner")).records(T.CHAT).filter(room=world.room)
    shown = re.findall(r'<div class="bubble">([^<]*)</div>', body)
    first_page = list(messages.order_by("onset", "id").values_list("content", flat=True)[:50])
    assert sorted(shown) == sorted(c.replace("'", "&#x27;") for c in first_page)
    senders = set(re.findall(r'class="chat-line (sender-\d)', body))
    assert len(senders) >= 2  # several people chat in the demo room, each in their colour
    assert "data-filter-lines" in body  # the search box of the transcript


def test_a_de_identified_transcript_names_senders_by_code(client, world):
    login_client(client, world, "collaborator")
    body = client.get(room_tab(world, "chat", "collaborator")).content.decode()
    senders = re.findall(r'data-sender="([^"]+)"', body)
    assert senders
    for sender in senders:
        assert sender.startswith("anon_")
    assert world.participant.public_id not in body


def test_recordings_are_cards_with_player_download_and_download_all(client, world):
    login_client(client, world, "owner")
    body = client.get(room_tab(world, "recordings")).content.decode()
    recordings = access.for_user(world.user("owner")).records(T.RECORDINGS).filter(room=world.room)
    assert body.count('class="recording-card"') == recordings.count() > 0
    assert body.count('<video controls preload="none"') >= recordings.exclude(file="").count()
    assert "Start</dt>" in body and "Duration</dt>" in body and "Size</dt>" in body
    assert "min" in re.search(r"Duration</dt><dd>([^<]*)<", body).group(1)
    assert re.search(r'type=recordings"[^<]*>Download All<', body)


def test_a_de_identified_reader_sees_cards_without_media(client, world):
    login_client(client, world, "collaborator")
    body = client.get(room_tab(world, "recordings", "collaborator")).content.decode()
    assert 'class="recording-card"' in body and "<video" not in body
    assert "Media is not shown with de-identified access" in body
