"""Error pages, the reader's time zone, and readable values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import RequestFactory
from django.utils import timezone
from django.views import defaults

from data_browser import formats
from data_browser.models import Profile
from tests.conftest import login_client


def test_it_shows_a_404_page_with_navigation_and_an_explanation(client, world):
    login_client(client, world, "owner")
    response = client.get("/e/exp_does_not_exist/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "Page not found" in body
    assert "not a member" in body
    assert 'href="/exports/"' in body and 'aria-label="Main"' in body


def test_it_explains_a_refusal_on_a_403_page(client, world):
    login_client(client, world, "owner")
    response = client.get("/lab/")
    assert response.status_code == 403
    body = response.content.decode()
    assert "You may not do this" in body
    assert "Only lab admins manage the lab." in body
    assert "signed in as <strong>owner</strong>" in body


def test_it_shows_a_500_page_without_a_request_context():
    response = defaults.server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong" in body and "has been logged" in body
    assert 'href="/"' in body


def test_an_expired_form_gets_its_own_403_page(world):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(world.user("owner"))
    response = client.post("/preferences/", {"time_zone": "UTC"})
    assert response.status_code == 403
    assert "This form has expired" in response.content.decode()


def test_it_remembers_the_time_zone_and_shows_times_in_it(client, world):
    login_client(client, world, "owner")
    response = client.post("/preferences/", {"time_zone": "Europe/Berlin"})
    assert response.status_code == 302 and response["Location"] == "/preferences/"
    assert Profile.objects.get(user=world.user("owner")).time_zone == "Europe/Berlin"
    page = client.get(f"/e/{world.experiment.public_id}/").content.decode()
    assert "Times in Europe/Berlin" in page
    room = world.experiment.rooms.order_by("-started_at").first()
    berlin = room.started_at.astimezone(ZoneInfo("Europe/Berlin"))
    assert berlin.utcoffset() and berlin.strftime("%Y-%m-%d %H:%M:%S") in page


def test_an_unknown_time_zone_is_refused(client, world):
    login_client(client, world, "owner")
    response = client.post("/preferences/", {"time_zone": "Mars/Olympus"})
    assert response.status_code == 400
    assert Profile.objects.get(user=world.user("owner")).time_zone == "UTC"


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (1_200_000, "20 min 0 s"),
        (timedelta(minutes=27), "27 min 0 s"),
        (3_725_000, "1 h 2 min 5 s"),
        (4_200, "4.2 s"),
        (850, "850 ms"),
        (-5_000, "-5.0 s"),
        (None, "—"),
    ],
)
def test_durations_read_in_words(ms, text):
    assert formats.duration(ms) == text


def test_numbers_have_separators_and_json_is_json():
    assert formats.number(118513) == "118,513"
    assert formats.json_text(None) == "null"
    assert formats.json_text(True) == "true"
    assert formats.json_text({"before": None}) == '{\n  "before": null\n}'


def test_times_follow_the_active_zone():
    moment = datetime(2024, 10, 20, 18, 43, tzinfo=UTC)
    with timezone.override("UTC"):
        assert formats.when(moment) == "2024-10-20 18:43:00"
    with timezone.override("Europe/Berlin"):
        assert formats.when(moment) == "2024-10-20 20:43:00"
        assert formats.when("2024-10-20T18:43:00Z") == "2024-10-20 20:43:00"
