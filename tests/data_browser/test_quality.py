"""The data quality panel: counts, time ranges, completeness and warnings that link to the rows."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.db.models import Max, Min
from django.urls import reverse

from data_browser import datatypes as T
from data_browser import quality
from data_browser.identity import participant_code
from data_browser.models import Event, Recording, RoomParticipant
from tests.conftest import login_client, show_every_column

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _own_cache(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"quality-{uuid.uuid4()}",
        }
    }


def panel(client, *args: str) -> str:
    names = {1: "experiment_quality", 2: "room_quality", 3: "participant_quality"}
    response = client.get(reverse(f"data_browser:{names[len(args)]}", args=args))
    assert response.status_code == 200
    return response.content.decode()


def counts(body: str) -> dict[str, int]:
    return {
        label: int(n)
        for label, n in re.findall(r'tab=[a-z]+">([^<]+)</a></td><td class="num">(\d+)</td>', body)
    }


def test_it_counts_each_type_and_gives_its_time_range(client, world):
    login_client(client, world, "owner")
    body = panel(client, world.experiment.public_id, world.room.public_id)
    found = counts(body)
    for dt in T.DATA_TYPES:
        qs = dt.model.objects.filter(room=world.room)
        assert found[dt.label] == qs.count()
    bounds = Event.objects.filter(room=world.room).aggregate(
        lo=Min("timestamp"), hi=Max("timestamp")
    )
    assert bounds["lo"].strftime("%Y-%m-%d %H:%M:%S") in body
    assert bounds["hi"].strftime("%Y-%m-%d %H:%M:%S") in body
    assert "No warnings" in body


def test_it_reports_completeness_of_recordings_and_sync(client, world):
    login_client(client, world, "owner")
    exp = world.experiment.public_id
    people = RoomParticipant.objects.filter(room__experiment=world.experiment).count()
    body = panel(client, exp)
    assert "Participants with a recording: <strong>100%</strong>" in body
    assert f"({people} of {people})" in body
    Recording.objects.filter(room=world.room, participant=world.participant).delete()
    body = panel(client, world.experiment.public_id, world.room.public_id)
    in_room = RoomParticipant.objects.filter(room=world.room).count()
    assert f"({in_room - 1} of {in_room})" in body
    assert "Multi-participant rooms with sync metrics" in body


def first_warning_link(body: str) -> str:
    return re.search(r'<li class="warning"><a href="([^"]+)"', body).group(1).replace("&amp;", "&")


def test_it_warns_of_an_onset_that_does_not_match_its_timestamp_and_links_to_it(client, world):
    event = Event.objects.filter(room=world.room, participant=world.participant).first()
    Event.objects.filter(pk=event.pk).update(onset=event.onset + 5000)
    show_every_column(world, "owner")
    login_client(client, world, "owner")
    exp, room, pid = world.experiment.public_id, world.room.public_id, world.participant.public_id
    for args in ((exp,), (exp, room), (exp, room, pid)):
        body = panel(client, *args)
        assert "Events: 1 record — Onset does not match the timestamp" in body, args
    link = first_warning_link(panel(client, exp, room))
    assert "issue=onset_mismatch" in link
    table = client.get(link).content.decode()
    assert re.findall(r"<td>(event_[a-z0-9_]+)</td>", table) == [event.record_id]


def test_it_warns_of_events_after_the_room_ended(client, world):
    event = Event.objects.filter(room=world.room).order_by("-onset").first()
    late = world.room.ended_at + timedelta(minutes=2)
    onset = round((late - world.room.started_at).total_seconds() * 1000)
    Event.objects.filter(pk=event.pk).update(timestamp=late, onset=onset)
    show_every_column(world, "owner")
    login_client(client, world, "owner")
    body = panel(client, world.experiment.public_id, world.room.public_id)
    assert "Events: 1 record — Recorded after the room ended" in body
    assert "Onset does not match" not in body
    table = client.get(first_warning_link(body)).content.decode()
    assert re.findall(r"<td>(event_[a-z0-9_]+)</td>", table) == [event.record_id]


def test_it_warns_of_missing_expected_fields(client, world):
    recording = Recording.objects.filter(room=world.room).first()
    Recording.objects.filter(pk=recording.pk).update(file="", file_size=None)
    show_every_column(world, "owner")
    login_client(client, world, "owner")
    body = panel(client, world.experiment.public_id, world.room.public_id)
    assert "Recordings: 1 record — Expected fields missing" in body
    table = client.get(first_warning_link(body)).content.decode()
    assert re.findall(r"<td>(rec_[a-z0-9_]+)</td>", table) == [recording.record_id]


def test_the_issue_filter_and_the_panel_count_the_same_rows(world):
    events = list(Event.objects.filter(room=world.room).order_by("id")[:3])
    for i, e in enumerate(events):
        Event.objects.filter(pk=e.pk).update(onset=e.onset - 2000 * (i + 1))
    mismatched = Event.objects.filter(quality.issue_q(T.EVENTS, quality.ONSET_MISMATCH))
    assert set(mismatched.values_list("pk", flat=True)) == {e.pk for e in events}
    report = quality.report(
        lambda dt: dt.model.objects.filter(room=world.room),
        RoomParticipant.objects.filter(room=world.room),
        video=True,
        multi=True,
        cache_key="test-issue-filter",
    )
    by_key = {t.key: t for t in report.types}
    assert by_key["events"].issues[quality.ONSET_MISMATCH] == 3


def test_it_tolerates_small_onset_differences(world):
    event = Event.objects.filter(room=world.room).first()
    Event.objects.filter(pk=event.pk).update(onset=event.onset + 900)
    assert not Event.objects.filter(quality.issue_q(T.EVENTS, quality.ONSET_MISMATCH)).exists()


def test_a_participant_sees_the_quality_of_their_own_data_only(client, world):
    login_client(client, world, "participant")
    exp, room = world.experiment.public_id, world.room.public_id
    code = participant_code(exp, world.participant.public_id)
    found = counts(panel(client, exp, room))
    own = Event.objects.filter(room=world.room, participant=world.participant).count()
    assert found["Events"] == own
    assert counts(panel(client, exp, room, code))["Events"] == own


def test_the_panel_is_a_fixed_number_of_queries_and_cached(
    client, world, django_assert_max_num_queries
):
    login_client(client, world, "owner")
    url = reverse("data_browser:experiment_quality", args=[world.experiment.public_id])
    with django_assert_max_num_queries(30):
        assert client.get(url).status_code == 200
    with django_assert_max_num_queries(10):
        assert client.get(url, HTTP_HX_REQUEST="true").status_code == 200


def test_the_lazy_panel_has_a_plain_link_and_an_htmx_loader(client, world):
    login_client(client, world, "owner")
    body = client.get(
        reverse("data_browser:room", args=[world.experiment.public_id, world.room.public_id])
    ).content.decode()
    url = reverse(
        "data_browser:room_quality", args=[world.experiment.public_id, world.room.public_id]
    )
    assert f'hx-get="{url}" hx-trigger="load"' in body
    assert f'<a href="{url}">Data quality</a>' in body
    full = client.get(url).content.decode()
    assert "<html" in full and "Data quality" in full and 'class="breadcrumbs"' in full
