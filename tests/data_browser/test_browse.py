"""Browsing: Experiments → Rooms → Participants → Data Viewer, per role, as a user sees it."""

from __future__ import annotations

import re
import uuid
from datetime import UTC
from zoneinfo import ZoneInfo

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from data_browser import datatypes as T
from data_browser import keyset
from data_browser.identity import participant_code
from data_browser.ingest import ingest
from data_browser.models import Event, Participant, Recording, RoomParticipant
from exports import contextual
from tests.conftest import login_client, show_every_column

pytestmark = pytest.mark.django_db

MEMBERS = ("owner", "fullcollab", "collaborator", "aggcollab", "viewer")
READERS = (*MEMBERS, "participant")
NO_DATA = ("labadmin", "outsider")


@pytest.fixture(autouse=True)
def _own_cache(settings):
    """A fresh cache per test: quality reports are cached by object id, which tests reuse."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"browse-{uuid.uuid4()}",
        }
    }


def ref_for(world, role: str, participant: Participant) -> str:
    if role in ("owner", "fullcollab"):
        return participant.public_id
    return participant_code(world.experiment.public_id, participant.public_id)


def room_for(world, role: str, room=None) -> str:
    """The room as the role addresses it (its code below the full export right)."""
    return world.room_ref(role, room)


def urls_for(world, role: str) -> list[str]:
    """Every page and panel of the three levels, and every tab of each data view."""
    exp, room = world.experiment.public_id, room_for(world, role)
    ref = ref_for(world, role, world.participant)
    pages = [
        reverse("data_browser:experiment", args=[exp]),
        reverse("data_browser:experiment_quality", args=[exp]),
        reverse("data_browser:room", args=[exp, room]),
        reverse("data_browser:room_quality", args=[exp, room]),
        reverse("data_browser:room_plots", args=[exp, room]),
        reverse("data_browser:participant_quality", args=[exp, room, ref]),
        reverse("data_browser:participant_plots", args=[exp, room, ref]),
    ]
    for name, args in (
        ("experiment_data", [exp]),
        ("room_data", [exp, room]),
        ("participant", [exp, room, ref]),
    ):
        base = reverse(f"data_browser:{name}", args=args)
        pages += [f"{base}?tab={dt.key}" for dt in T.DATA_TYPES]
    return pages


def text(response) -> str:
    return response.content.decode()


# The experiments table.


def listed(response) -> set[str]:
    return set(re.findall(r"exp_[a-z0-9_]+", text(response))) - {"exp_research_001_"}


def test_it_lists_the_experiments_a_user_belongs_to_and_hides_archived(client, world):
    login_client(client, world, "owner")
    response = client.get(reverse("data_browser:experiments"))
    assert response.status_code == 200
    assert listed(response) == {"exp_research_001", "exp_solo_rating"}
    body = text(response)
    assert "Emotion synchrony study" in body and "Pilot 2023" not in body
    people = RoomParticipant.objects.filter(room__experiment=world.experiment)
    n = people.values("participant").distinct().count()
    assert f'<td class="num">{n}</td>' in body


@pytest.mark.parametrize("query", ["?archived=1", "?status=archived"])
def test_it_shows_archived_experiments_when_asked(client, world, query):
    login_client(client, world, "owner")
    response = client.get(reverse("data_browser:experiments") + query)
    assert "exp_pilot_2023" in listed(response)
    if query == "?status=archived":
        assert listed(response) == {"exp_pilot_2023"}


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("collaborator", {"exp_research_001"}),
        ("viewer", {"exp_research_001"}),
        ("participant", {"exp_research_001"}),
        ("outsider", {"exp_other_lab"}),
    ],
)
def test_it_lists_only_the_users_experiments(client, world, role, expected):
    login_client(client, world, role)
    assert listed(client.get(reverse("data_browser:experiments"))) == expected


def test_it_lists_the_lab_to_a_lab_admin_without_linking_its_data(client, world):
    login_client(client, world, "labadmin")
    response = client.get(reverse("data_browser:experiments"))
    assert listed(response) == {"exp_research_001", "exp_solo_rating"}
    assert reverse("data_browser:experiment", args=["exp_research_001"]) not in text(response)
    assert "needs a membership" in text(response)


def test_it_searches_and_sorts_experiments(client, world):
    login_client(client, world, "owner")
    url = reverse("data_browser:experiments")
    assert listed(client.get(url + "?q=solo")) == {"exp_solo_rating"}
    body = text(client.get(url + "?sort=name"))
    assert body.index("Emotion synchrony study") < body.index("Solo film rating")
    body = text(client.get(url + "?sort=-name"))
    assert body.index("Solo film rating") < body.index("Emotion synchrony study")


# Access to every level and tab.


@pytest.mark.parametrize("role", READERS)
def test_it_shows_every_level_and_tab_to_members_and_the_participant(client, world, role):
    login_client(client, world, role)
    for url in urls_for(world, role):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "<html" in text(response)
        partial = client.get(url, HTTP_HX_REQUEST="true")
        assert partial.status_code == 200, url
        assert "<html" not in text(partial), url
        assert "HX-Request" in partial["Vary"]


@pytest.mark.parametrize("role", ["owner", "collaborator"])
def test_the_hierarchy_tables_link_each_level_and_show_no_python_values(client, world, role):
    """Experiments → Rooms → Participants by the links the tables render, each table in the
    dashboard's own markup (status badges, links), never a cell's dict printed as text."""
    login_client(client, world, role)
    exp, room = world.experiment.public_id, room_for(world, role)
    experiment_url = reverse("data_browser:experiment", args=[exp])
    room_url = reverse("data_browser:room", args=[exp, room])
    pages = {
        reverse("data_browser:experiments"): experiment_url,
        experiment_url: room_url,
        room_url: f"{room_url}p/",
    }
    for url, child in pages.items():
        body = text(client.get(url))
        assert 'class="data-table' in body, url
        assert f'href="{child}' in body, url
        assert '<span class="badge' in body, url
        assert "&#x27;text&#x27;" not in body and "{'text'" not in body, url


@pytest.mark.parametrize("role", NO_DATA)
def test_it_answers_404_to_users_without_a_membership(client, world, role):
    login_client(client, world, role)
    for url in urls_for(world, "owner"):
        assert client.get(url).status_code == 404, url
        assert client.get(url, HTTP_HX_REQUEST="true").status_code == 404, url


def test_it_sends_anonymous_visitors_to_the_login_page(client, world):
    for url in urls_for(world, "owner")[:3]:
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_it_404s_a_room_under_the_wrong_experiment(client, world):
    login_client(client, world, "owner")
    url = reverse("data_browser:room", args=[world.solo.public_id, world.room.public_id])
    assert client.get(url).status_code == 404


# Identity: identifiers for those who may see them, codes for everyone else.


def people_of_experiment(world) -> list[Participant]:
    return list(Participant.objects.filter(room_participants__room__experiment=world.experiment))


@pytest.mark.parametrize("role", ["collaborator", "aggcollab", "viewer", "participant"])
def test_it_shows_codes_and_never_identifiers_to_deidentified_users(client, world, role):
    login_client(client, world, role)
    people = people_of_experiment(world)
    for url in urls_for(world, role):
        body = text(client.get(url))
        for person in people:
            assert person.public_id not in body, url
            assert person.email not in body, url
            assert person.display_name not in body, url
            first = person.display_name.split()[0]
            assert not re.search(rf"\b{first}\b", body), (first, url)
    room = room_for(world, role)
    body = text(client.get(reverse("data_browser:room", args=[world.experiment.public_id, room])))
    assert participant_code(world.experiment.public_id, world.participant.public_id) in body


def test_it_shows_identifiers_to_the_owner(client, world):
    login_client(client, world, "owner")
    exp, room = world.experiment.public_id, world.room.public_id
    body = text(client.get(reverse("data_browser:room", args=[exp, room])))
    for rp in RoomParticipant.objects.filter(room=world.room).select_related("participant"):
        assert rp.participant.public_id in body
    viewer = client.get(
        reverse("data_browser:participant", args=[exp, room, world.participant.public_id])
    )
    assert world.participant.display_name in text(viewer)


def test_it_404s_an_identifier_in_the_url_of_a_code_only_user(client, world):
    login_client(client, world, "collaborator")
    exp, room = world.experiment.public_id, room_for(world, "collaborator")
    assert (
        client.get(reverse("data_browser:room", args=[exp, world.room.public_id])).status_code
        == 404
    )
    url = reverse("data_browser:participant", args=[exp, room, world.participant.public_id])
    assert client.get(url).status_code == 404


def test_it_shows_a_participant_only_their_own_sessions_and_data(client, world):
    login_client(client, world, "participant")
    exp, room = world.experiment.public_id, world.room.public_id
    rooms = text(client.get(reverse("data_browser:experiment", args=[exp])))
    assert set(re.findall(r"room_[0-9a-f]{12}", rooms)) == {room}
    own = participant_code(exp, world.participant.public_id)
    room_page = text(client.get(reverse("data_browser:room", args=[exp, room])))
    assert f"{own} (you)" in room_page
    others = RoomParticipant.objects.filter(room=world.room).exclude(participant=world.participant)
    for rp in others.select_related("participant"):
        code = participant_code(exp, rp.participant.public_id)
        assert code in room_page
        url = reverse("data_browser:participant", args=[exp, room, code])
        assert url not in room_page
        assert client.get(url).status_code == 404
    # The room's data tab holds the participant's own events only.
    events = text(client.get(reverse("data_browser:room_data", args=[exp, room]) + "?tab=events"))
    senders = set(re.findall(r"anon_[a-z0-9]+", events))
    assert senders == {own}


# Download buttons follow the export right.


@pytest.mark.parametrize(
    ("role", "buttons"),
    [("owner", True), ("collaborator", True), ("viewer", False), ("participant", False)],
)
def test_it_shows_download_buttons_only_to_users_who_may_export(client, world, role, buttons):
    login_client(client, world, role)
    for url in urls_for(world, role):
        body = text(client.get(url))
        if "quality" in url or "plots" in url:
            continue
        assert ("export-button" in body) is buttons, url


def test_it_labels_the_download_buttons_of_each_level(client, world):
    login_client(client, world, "owner")
    exp, room, pid = world.experiment.public_id, world.room.public_id, world.participant.public_id
    assert "Download All" in text(client.get(reverse("data_browser:experiment", args=[exp])))
    assert "Download All" in text(client.get(reverse("data_browser:room", args=[exp, room])))
    viewer = text(
        client.get(reverse("data_browser:participant", args=[exp, room, pid]) + "?tab=chat")
    )
    assert "Download All Data" in viewer and "Download Text Chat" in viewer


# Tables: columns, rows, htmx.


def test_it_lists_rooms_with_counts_status_and_duration(client, world):
    login_client(client, world, "owner")
    body = text(client.get(reverse("data_browser:experiment", args=[world.experiment.public_id])))
    rooms = world.experiment.rooms.all()
    for room in rooms:
        assert room.public_id in body
    assert "Completed" in body
    duration = world.room.ended_at - world.room.started_at
    minutes, seconds = divmod(int(duration.total_seconds()), 60)
    assert f"{minutes} min {seconds} s" in body
    assert f"{minutes}:{seconds:02d}" not in body


def test_it_badges_the_data_types_each_participant_has(client, world):
    login_client(client, world, "owner")
    exp, room = world.experiment.public_id, world.room.public_id
    body = text(client.get(reverse("data_browser:room", args=[exp, room])))
    url = reverse("data_browser:participant", args=[exp, room, world.participant.public_id])
    for dt in T.DATA_TYPES:
        assert f"{url}?tab={dt.key}" in body


def test_it_shows_record_counts_in_the_tab_labels(client, world):
    login_client(client, world, "owner")
    exp, room, pid = world.experiment.public_id, world.room.public_id, world.participant.public_id
    body = text(client.get(reverse("data_browser:participant", args=[exp, room, pid])))
    n = Event.objects.filter(room=world.room, participant=world.participant).count()
    assert re.search(rf'data-tab="events"[^>]*>Events <span class="count">{n}</span>', body)


def test_it_renders_json_payloads_readably_and_negative_onsets_as_such(client, world):
    login_client(client, world, "owner")
    exp, room, pid = world.experiment.public_id, world.room.public_id, world.participant.public_id
    url = reverse("data_browser:participant", args=[exp, room, pid])
    events = text(client.get(url + "?tab=events"))
    assert re.search(r'<td class="num negative" title="[^"]*before the room started">-', events)
    components = text(client.get(url + "?tab=components"))
    assert '<code class="json clip" title="{\n  &quot;' in components  # cut short, whole on hover
    assert re.search(r'<code class="json clip"[^>]*>\{&quot;[^\n<]*\}</code>', components)


def test_it_offers_signed_play_and_download_links_for_recordings(client, world):
    login_client(client, world, "owner")
    exp, room, pid = world.experiment.public_id, world.room.public_id, world.participant.public_id
    body = text(
        client.get(reverse("data_browser:participant", args=[exp, room, pid]) + "?tab=recordings")
    )
    links = set(re.findall(r'href="(http://testserver/media/[^"]+)"', body))
    assert len(links) == 1
    assert "Play" in body and "1280x720" in body and "15 min 0 s" in body
    recording = Recording.objects.get(room=world.room, participant=world.participant)
    if not default_storage.exists(recording.file.name):
        # The demo wrote its media before the tests' media directory was set; same bytes.
        header = bytes.fromhex("1a45dfa3")
        content = header + f"hyperstudy demo recording {recording.record_id}\n".encode()
        default_storage.save(recording.file.name, ContentFile(content))
    client.logout()
    media = client.get(links.pop().replace("http://testserver", ""))
    assert media.status_code == 200
    assert b"hyperstudy demo recording" in b"".join(media.streaming_content)


def test_it_serves_the_table_region_alone_to_htmx(client, world):
    login_client(client, world, "owner")
    exp, room, pid = world.experiment.public_id, world.room.public_id, world.participant.public_id
    url = reverse("data_browser:participant", args=[exp, room, pid]) + "?tab=chat"
    partial = text(client.get(url, HTTP_HX_REQUEST="true"))
    assert partial.lstrip().startswith('<div id="records"')
    assert 'hx-push-url="true"' in partial
    assert 'hx-history="false"' in partial  # no copy of the records in the browser's storage
    restore = client.get(url, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert "<html" in text(restore)


def test_every_htmx_link_is_also_a_plain_link(client, world):
    login_client(client, world, "owner")
    exp, room, pid = world.experiment.public_id, world.room.public_id, world.participant.public_id
    body = text(client.get(reverse("data_browser:participant", args=[exp, room, pid])))
    for tag in re.findall(r"<a [^>]*hx-get[^>]*>", body):
        href = re.search(r'href="([^"]*)"', tag).group(1)
        hx = re.search(r'hx-get="([^"]*)"', tag).group(1)
        assert href == hx


def headers(body: str) -> list[str]:
    """The API names of the columns shown (each header's ``data-field``)."""
    thead = body.split("<thead>", 1)[1].split("</thead>", 1)[0]
    return re.findall(r'<th [^>]*data-field="([^"]+)"', thead)


def test_the_room_and_experiment_tabs_add_a_participant_column(client, world):
    login_client(client, world, "owner")
    exp, room, pid = world.experiment.public_id, world.room.public_id, world.participant.public_id
    room_tab = headers(
        text(client.get(reverse("data_browser:room_data", args=[exp, room]) + "?tab=chat"))
    )
    assert "senderId" in room_tab and "roomId" not in room_tab
    exp_tab = headers(
        text(client.get(reverse("data_browser:experiment_data", args=[exp]) + "?tab=chat"))
    )
    assert "senderId" in exp_tab and "roomId" in exp_tab
    own = headers(
        text(client.get(reverse("data_browser:participant", args=[exp, room, pid]) + "?tab=chat"))
    )
    assert "senderId" not in own and "content" in own
    assert "experimentId" not in own + room_tab + exp_tab


# Filters.


def rows(body: str) -> list[str]:
    tbody = re.split(r"<tbody[^>]*>", body, maxsplit=1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr[ >].*?</tr>", tbody, re.S)


def test_it_filters_events_by_type_and_onset(client, world):
    login_client(client, world, "owner")
    exp, room = world.experiment.public_id, world.room.public_id
    url = reverse("data_browser:room_data", args=[exp, room])
    body = text(client.get(url + "?tab=events&eventType=chat.send"))
    found = rows(body)
    expected = Event.objects.filter(room=world.room, event_type="chat.send").count()
    assert len(found) == min(expected, 50) and all("chat.send" in r for r in found)
    body = text(client.get(url + "?tab=events&onsetTo=-1"))
    assert rows(body) and all('class="num negative"' in r for r in rows(body))


def test_it_searches_chat_text(client, world):
    login_client(client, world, "owner")
    url = reverse("data_browser:experiment_data", args=[world.experiment.public_id])
    body = text(client.get(url + "?tab=chat&content=hello"))
    assert rows(body) and all("hello" in r.lower() for r in rows(body))


def test_it_filters_by_time_range(client, world):
    login_client(client, world, "owner")
    url = reverse("data_browser:room_data", args=[world.experiment.public_id, world.room.public_id])
    start = world.room.started_at
    body = text(client.get(url, {"tab": "events", "startTime": start.isoformat()}))
    assert rows(body) and 'class="negative"' not in body


def matching(body: str) -> int:
    found = re.search(r'class="match-count"[^>]*><strong>([\d,]+)</strong>', body)
    assert found, "no match count on the page"
    return int(found[1].replace(",", ""))


def test_the_time_pickers_read_and_show_times_in_the_readers_zone(client, world):
    """A picked time has no offset: it is in the reader's zone, which the form names; a time
    with an offset (a link written for the API) means the same instant and shows in that zone;
    the tab's export keeps the instant, in UTC."""
    profile = world.user("owner").profile
    profile.time_zone = "Asia/Kolkata"  # +05:30 all year
    profile.save()
    login_client(client, world, "owner")
    url = reverse("data_browser:room_data", args=[world.experiment.public_id, world.room.public_id])
    stamps = list(
        Event.objects.filter(room=world.room)
        .order_by("timestamp")
        .values_list("timestamp", flat=True)
    )
    instant = stamps[len(stamps) // 2].replace(microsecond=0)
    local = instant.astimezone(ZoneInfo("Asia/Kolkata")).replace(tzinfo=None).isoformat()
    expected = sum(1 for t in stamps if t >= instant)
    assert 0 < expected < len(stamps)

    picked = text(client.get(url, {"tab": "events", "startTime": local}))
    assert matching(picked) == expected
    assert "From (Asia/Kolkata)" in picked
    picker = re.search(r'<input type="datetime-local" name="startTime"[^>]*>', picked)[0]
    assert f'value="{local}"' in picker and 'step="1"' in picker

    as_utc = text(client.get(url, {"tab": "events", "startTime": T.iso(instant)}))
    assert matching(as_utc) == expected
    assert f'value="{local}"' in as_utc

    with timezone.override("Asia/Kolkata"):
        kept = contextual.canonical(T.EVENTS, {"startTime": local})
    assert kept == {"startTime": T.iso(instant.astimezone(UTC))}


# Pagination and sorting.


def ids_on(body: str, prefix: str = "event_") -> list[str]:
    return re.findall(rf"<td>({prefix}[a-z0-9_]+)</td>", body)


def test_it_walks_every_row_with_keyset_links_and_back(client, world):
    show_every_column(world, "owner")
    login_client(client, world, "owner")
    url = reverse("data_browser:experiment_data", args=[world.experiment.public_id])
    expected = list(
        Event.objects.filter(experiment=world.experiment)
        .order_by("onset", "id")
        .values_list("record_id", flat=True)
    )
    seen: list[str] = []
    pages = []
    query = "?tab=events"
    while True:
        body = text(client.get(url + query))
        pages.append((query, ids_on(body)))
        seen += pages[-1][1]
        nxt = re.search(r'rel="next" href="\?([^"]+)"', body)
        if not nxt:
            break
        query = "?" + nxt.group(1).replace("&amp;", "&")
    assert seen == expected
    assert len(pages) > 2
    # Previous from the last page gives the page before it.
    body = text(client.get(url + pages[-1][0]))
    prev = re.search(r'rel="prev" href="\?([^"]+)"', body).group(1).replace("&amp;", "&")
    assert ids_on(text(client.get(url + "?" + prev))) == pages[-2][1]


def test_it_sorts_by_time_descending_with_keyset_links(client, world):
    show_every_column(world, "owner")
    login_client(client, world, "owner")
    url = reverse("data_browser:room_data", args=[world.experiment.public_id, world.room.public_id])
    expected = list(
        Event.objects.filter(room=world.room)
        .order_by("-timestamp", "-id")
        .values_list("record_id", flat=True)
    )
    body = text(client.get(url + "?tab=events&sort=-timestamp"))
    first = ids_on(body)
    assert first == expected[:50]
    nxt = re.search(r'rel="next" href="\?([^"]+)"', body).group(1).replace("&amp;", "&")
    assert ids_on(text(client.get(url + "?" + nxt))) == expected[50:100]


def test_the_sort_links_keep_the_filters_and_leave_the_page_position(client, world):
    login_client(client, world, "owner")
    url = reverse("data_browser:experiment_data", args=[world.experiment.public_id])
    body = text(client.get(url + "?tab=events&category=component"))
    nxt = re.search(r'rel="next" href="\?([^"]+)"', body).group(1).replace("&amp;", "&")
    body = text(client.get(f"{url}?{nxt}"))
    heads = header_cells(body)
    assert heads["onset"]["class"] == "asc orderable"  # the default sort, shown as such
    assert heads["timestamp"]["class"] == "orderable"
    assert heads["eventType"]["class"] == ""  # not sortable across a whole experiment
    links = {name: h["href"] for name, h in heads.items() if h["href"]}
    assert links == {
        "onset": "tab=events&amp;category=component&amp;sort=-onset",
        "timestamp": "tab=events&amp;category=component&amp;sort=timestamp",
    }
    descending = header_cells(text(client.get(f"{url}?tab=events&sort=-onset")))
    assert descending["onset"]["title"].startswith("onset: Time from the room&#x27;s start")
    assert descending["onset"]["class"] == "desc orderable"
    assert descending["onset"]["href"] == "tab=events&amp;sort=onset"


def header_cells(body: str) -> dict[str, dict[str, str]]:
    """Each header by its API name: its class, sort link (query), tooltip and text."""
    thead = body.split("<thead>", 1)[1].split("</thead>", 1)[0]
    cells = {}
    for attrs, inner in re.findall(r"<th ([^>]*)>(.*?)</th>", thead, re.S):
        found = dict(re.findall(r'([\w-]+)="([^"]*)"', attrs))
        if "data-field" not in found:
            continue  # the expand buttons' column
        href = re.search(r'<a href="\?([^"]+)"', inner)
        cells[found["data-field"]] = {
            "class": found.get("class", ""),
            "title": found.get("title", ""),
            "href": href.group(1) if href else None,
            "text": re.sub(r"<[^>]+>", "", inner),
        }
    return cells


def test_it_sorts_other_columns_below_experiment_level_with_pages(client, world):
    login_client(client, world, "owner")
    url = reverse("data_browser:room_data", args=[world.experiment.public_id, world.room.public_id])
    body = text(client.get(url + "?tab=events&sort=eventType"))
    types = re.findall(r"<td>((?:state|component|media|rating|chat|sync)\.[a-z]+)</td>", body)
    assert types == sorted(types)
    assert "Page 1 of" in body
    assert "Page 2 of" in text(client.get(url + "?tab=events&sort=eventType&page=2"))


def past_end() -> str:
    """A cursor the dashboard could have issued, after every row."""
    return keyset.Cursor("onset", False, 99_999_999_999, 1).sign()


@pytest.mark.parametrize(
    ("query", "note"),
    [
        ("?tab=events&sort=bogus", "cannot be sorted by “bogus”"),
        ("?tab=events&sort=eventType", "cannot be sorted by “eventType”"),
        ("?tab=nope", "There is no data type “nope”"),
        ("?tab=events&startTime=yesterday", "was ignored"),
        ("?tab=events&endTime=2024-13-45", "was ignored"),
        ("?tab=events&onsetFrom=abc", "was ignored"),
        ("?tab=events&onsetTo=1e19", "was ignored"),
        ("?tab=events&after=garbage", "not valid"),
        ("?tab=events&after=PAST_END", "no rows past that point"),
        ("?tab=events&before=x,y", "not valid"),
    ],
)
def test_it_explains_bad_input_on_experiment_tabs_and_never_fails(client, world, query, note):
    login_client(client, world, "owner")
    url = reverse("data_browser:experiment_data", args=[world.experiment.public_id])
    query = query.replace("PAST_END", past_end())
    for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
        response = client.get(url + query, **headers)
        assert response.status_code == 200
        assert note in text(response)
        assert rows(text(response))


@pytest.mark.parametrize(
    ("query", "note"),
    [
        ("?tab=events&sort=eventType&page=abc", "not a page number"),
        ("?tab=events&sort=eventType&page=999", "There is no page 999"),
        ("?tab=events&sort=-eventType&page=-3", "There is no page -3"),
    ],
)
def test_it_explains_bad_pages_on_room_tabs(client, world, query, note):
    login_client(client, world, "owner")
    url = reverse("data_browser:room_data", args=[world.experiment.public_id, world.room.public_id])
    response = client.get(url + query)
    assert response.status_code == 200 and note in text(response) and rows(text(response))


def test_a_cursor_past_the_end_shows_the_last_rows(client, world):
    show_every_column(world, "owner")
    login_client(client, world, "owner")
    url = reverse("data_browser:room_data", args=[world.experiment.public_id, world.room.public_id])
    last = list(
        Event.objects.filter(room=world.room)
        .order_by("-onset", "-id")
        .values_list("record_id", flat=True)[:50]
    )
    body = text(client.get(url + f"?tab=events&after={past_end()}"))
    assert ids_on(body) == list(reversed(last))


@pytest.mark.parametrize(
    ("query", "note"),
    [
        ("?page=abc", "not a page number"),
        ("?page=99", "There is no page 99"),
        ("?sort=bogus", "cannot be sorted by “bogus”"),
    ],
)
def test_it_explains_bad_input_on_the_small_tables(client, world, query, note):
    login_client(client, world, "owner")
    for url in (
        reverse("data_browser:experiments"),
        reverse("data_browser:experiment", args=[world.experiment.public_id]),
        reverse("data_browser:room", args=[world.experiment.public_id, world.room.public_id]),
    ):
        response = client.get(url + query)
        assert response.status_code == 200 and note in text(response), url


# User content is escaped.


def test_it_escapes_chat_messages_everywhere(client, world):
    others = RoomParticipant.objects.filter(room=world.room).exclude(participant=world.participant)
    result = ingest(
        "chat",
        [
            {
                "messageId": "msg_xss_1",
                "roomId": world.room.public_id,
                "senderId": world.participant.public_id,
                "content": "<img src=x onerror=alert(1)>",
                "timestamp": world.room.started_at.isoformat(),
                "recipientIds": [others.first().participant.public_id],
            }
        ],
        accept_closed=True,
    )
    assert result.accepted == 1, result.errors
    exp = world.experiment.public_id
    for role in ("owner", "collaborator", "participant"):
        login_client(client, world, role)
        room, ref = room_for(world, role), ref_for(world, role, world.participant)
        for url in (
            reverse("data_browser:participant", args=[exp, room, ref]) + "?tab=chat",
            reverse("data_browser:room_data", args=[exp, room]) + "?tab=chat",
            reverse("data_browser:experiment_data", args=[exp]) + "?tab=chat&content=onerror",
        ):
            body = text(client.get(url))
            assert "<img src=x" not in body, (role, url)
            assert "&lt;img src=x onerror=alert(1)&gt;" in body, (role, url)


# No N+1: the number of queries does not grow with the rows shown.


def test_the_participants_table_costs_the_same_queries_for_two_or_four_people(
    client, world, django_assert_max_num_queries
):
    login_client(client, world, "owner")
    exp = world.experiment.public_id
    small, big = None, None
    for room in world.experiment.rooms.all():
        n = room.room_participants.count()
        if n == 2:
            small = room
        elif n == 4:
            big = room
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for room in (small, big):
        with CaptureQueriesContext(connection) as ctx:
            assert (
                client.get(reverse("data_browser:room", args=[exp, room.public_id])).status_code
                == 200
            )
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


@pytest.mark.parametrize("role", ["owner", "collaborator", "participant"])
def test_the_data_viewer_runs_a_fixed_small_number_of_queries(
    client, world, role, django_assert_max_num_queries
):
    login_client(client, world, role)
    exp, room = world.experiment.public_id, room_for(world, role)
    ref = ref_for(world, role, world.participant)
    url = reverse("data_browser:participant", args=[exp, room, ref])
    for dt in T.DATA_TYPES:
        with django_assert_max_num_queries(30):
            assert client.get(f"{url}?tab={dt.key}").status_code == 200
    with django_assert_max_num_queries(30):
        client.get(reverse("data_browser:experiment_data", args=[exp]) + "?tab=events")
    with django_assert_max_num_queries(8):
        client.get(reverse("data_browser:experiments"))


def test_codes_do_not_sort_by_the_identifiers_behind_them(client, world):
    exp = world.experiment.public_id
    url = reverse("data_browser:room_data", args=[exp, room_for(world, "collaborator")])
    login_client(client, world, "collaborator")
    assert "cannot be sorted by “senderId”" in text(client.get(url + "?tab=chat&sort=senderId"))
    login_client(client, world, "owner")
    url = reverse("data_browser:room_data", args=[exp, world.room.public_id])
    assert "cannot be sorted" not in text(client.get(url + "?tab=chat&sort=senderId"))


@pytest.mark.parametrize("role", ["owner", "collaborator", "viewer"])
def test_a_data_page_reads_the_users_memberships_once(client, world, role):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    login_client(client, world, role)
    url = reverse("data_browser:experiment_data", args=[world.experiment.public_id])
    assert client.get(f"{url}?tab=events").status_code == 200  # tab counts now cached
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(f"{url}?tab=events").status_code == 200
    sqls = [q["sql"] for q in ctx.captured_queries]
    memberships = [sql for sql in sqls if sql.startswith('SELECT "data_browser_membership"')]
    assert len(memberships) == 1, memberships
    # The profile (lab, participant link) comes with the signed-in user.
    assert not [sql for sql in sqls if sql.startswith('SELECT "data_browser_profile"')]
    assert len(sqls) <= 8, [sql[:80] for sql in sqls]
