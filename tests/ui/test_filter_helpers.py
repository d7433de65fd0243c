"""Filters that help: the events category dropdown, pick-lists of the values present, and
"N of M match" with exact counts."""

from __future__ import annotations

import re

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from data_browser import access
from data_browser import datatypes as T
from data_browser.ingest import ingest
from data_browser.models import RoomParticipant
from tests.conftest import login_client
from tests.factories import event_record


def events_url(world, query: str = "") -> str:
    return reverse("data_browser:experiment_data", args=[world.experiment.public_id]) + (
        "?tab=events" + query
    )


def test_the_category_is_a_dropdown_of_the_categories(client, world):
    login_client(client, world, "owner")
    body = client.get(events_url(world)).content.decode()
    select = re.search(r'<select name="category".*?</select>', body, re.S).group(0)
    for category in T.EVENT_CATEGORIES:
        assert f'value="{category}"' in select
    assert "Any category" in select


def test_exact_value_filters_offer_the_values_present(client, world):
    login_client(client, world, "owner")
    body = client.get(events_url(world)).content.decode()
    assert 'list="values-eventType"' in body
    present = set(
        access.for_user(world.user("owner"))
        .records(T.EVENTS)
        .filter(experiment=world.experiment)
        .values_list("event_type", flat=True)
    )
    datalist = re.search(r'<datalist id="values-eventType">(.*?)</datalist>', body, re.S).group(1)
    assert set(re.findall(r'<option value="([^"]+)">', datalist)) == present


def test_a_filtered_tab_says_how_many_of_how_many_match(client, world):
    login_client(client, world, "owner")
    events = (
        access.for_user(world.user("owner")).records(T.EVENTS).filter(experiment=world.experiment)
    )
    media = events.filter(T.category_filter("media")).count()
    body = client.get(events_url(world, "&category=media")).content.decode()
    assert f"<strong>{media:,}</strong> of {events.count():,} events match" in body
    assert "events match" not in client.get(events_url(world)).content.decode()


def test_the_match_count_is_counted_once_and_again_after_ingest(
    client, world, django_capture_on_commit_callbacks
):
    login_client(client, world, "owner")
    events = (
        access.for_user(world.user("owner")).records(T.EVENTS).filter(experiment=world.experiment)
    )
    media = events.filter(T.category_filter("media")).count()
    url = events_url(world, "&category=media")
    assert f"<strong>{media:,}</strong> of" in client.get(url).content.decode()
    with CaptureQueriesContext(connection) as queries:
        assert f"<strong>{media:,}</strong> of" in client.get(url).content.decode()
    assert not [q for q in queries.captured_queries if "COUNT(*)" in q["sql"].upper()]

    member = RoomParticipant.objects.filter(room=world.room).select_related("participant")[0]
    with django_capture_on_commit_callbacks(execute=True):
        result = ingest("events", [event_record(member, "ev_match_new", eventType="media.play")])
    assert result.accepted == 1
    body = client.get(url).content.decode()
    assert f"<strong>{media + 1:,}</strong> of {events.count():,} events match" in body
