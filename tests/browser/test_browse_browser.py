"""In Chromium: click from the experiments down to a participant, switch every tab, sort,
filter, go back, open a plot; and the same walk for a de-identified collaborator."""

from __future__ import annotations

import re

import pytest

from data_browser import datatypes as T
from data_browser.identity import participant_code
from data_browser.models import Event
from tests.conftest import ARTIFACTS, browser_login

pytestmark = [pytest.mark.browser]


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"browse_{name}.png"), full_page=True)


def position(page, field: str) -> int:
    """The column (from 1) of a field, by its header's API name (the columns are chosen)."""
    fields = page.locator("#records thead th").evaluate_all(
        "ths => ths.map(th => th.dataset.field)"
    )
    return fields.index(field) + 1


def first_cells(page, field: str) -> list[str]:
    column = position(page, field)
    return page.locator(f"#records tbody tr td:nth-child({column})").all_inner_texts()


def walk_down(page, world, participant_label: str, role: str = "owner") -> None:
    room = world.room_ref(role)  # the room's id, or its code for those who see codes
    page.goto("/")
    page.click("text=Emotion synchrony study")
    page.wait_for_url(re.compile(rf"/e/{world.experiment.public_id}/$"))
    page.click(f"a:text-is('{room}')")
    page.wait_for_url(re.compile(rf"/r/{room}/$"))
    page.click(f"#table a:text-is('{participant_label}')")
    page.wait_for_url(re.compile(r"/p/[^/]+/$"))


def test_a_researcher_browses_down_to_a_participant_and_explores_the_data(
    transactional_db, world, page
):
    browser_login(page, "owner")
    walk_down(page, world, world.participant.public_id)
    assert world.participant.public_id in page.locator("h1").inner_text()
    crumbs = page.locator(".breadcrumbs a").all_inner_texts()
    assert crumbs == [
        "Experiments",
        world.experiment.name,
        world.room.public_id,
        world.participant.public_id,
    ]
    shot(page, "viewer_events")

    # Tabs swap only the table: a marker set on the page survives every switch.
    page.evaluate("window.__kept = true")
    for dt in T.DATA_TYPES:
        page.click(f"#records .tabs a[data-tab={dt.key}]")
        page.wait_for_url(re.compile(rf"tab={dt.key}"))
        page.locator(f"#records .tabs a.active[data-tab={dt.key}]").wait_for()
        assert page.locator("#records table.data-table thead th").count() > 3
        assert page.locator("#records tbody tr").count() >= 1
        shot(page, f"viewer_{dt.key}")
    assert page.evaluate("window.__kept") is True

    # Sort the events by onset, descending.
    page.click("#records .tabs a[data-tab=events]")
    page.wait_for_url(re.compile(r"tab=events"))
    ascending = first_cells(page, "onset")
    assert ascending[0].startswith("-")
    page.click("#records thead th[data-field=onset] a")
    page.wait_for_url(re.compile(r"sort=-onset"))
    page.locator("#records th.desc").wait_for()
    descending = first_cells(page, "onset")
    assert not descending[0].startswith("-") and descending != ascending

    # Filter by event type; every row shows it.
    page.fill("#records input[name=eventType]", "chat.send")
    page.click("#records form.filters button[type=submit]")
    page.wait_for_url(re.compile(r"eventType=chat\.send"))
    page.locator("#records input[name=eventType][value='chat.send']").wait_for()
    types = first_cells(page, "eventType")
    assert types and set(types) == {"chat.send"}
    shot(page, "viewer_filtered")

    # Back: the unfiltered, sorted table again; then the ascending one.
    page.go_back()
    page.wait_for_url(re.compile(r"sort=-onset$"))
    page.wait_for_function("document.querySelectorAll('#records tbody tr').length > 10")
    assert len(set(first_cells(page, "eventType"))) > 1
    page.go_back()
    page.wait_for_url(re.compile(r"tab=events$"))
    onset = position(page, "onset")
    page.wait_for_function(
        f"document.querySelector('#records tbody td:nth-child({onset})').innerText.startsWith('-')"
    )
    assert page.evaluate("window.__kept") is True

    # A start time from the picker (the reader's zone, UTC here) narrows the rows, says how
    # many match, and stays in the picker.
    stamps = sorted(
        Event.objects.filter(room=world.room, participant=world.participant).values_list(
            "timestamp", flat=True
        )
    )
    instant = stamps[len(stamps) // 2].replace(microsecond=0)
    page.fill("#records input[name=startTime]", instant.strftime("%Y-%m-%dT%H:%M:%S"))
    page.click("#records form.filters button[type=submit]")
    page.wait_for_url(re.compile(r"startTime="))
    count = page.locator("#records .match-count").inner_text()
    assert count.startswith(f"{sum(1 for t in stamps if t >= instant):,} of {len(stamps):,}")
    assert page.input_value("#records input[name=startTime]") == instant.strftime(
        "%Y-%m-%dT%H:%M:%S"
    )
    assert "From (UTC)" in page.locator("#records form.filters").inner_text()
    shot(page, "viewer_time_filter")
    page.go_back()
    page.wait_for_url(re.compile(r"tab=events$"))

    # A reload of a pushed URL shows the same view.
    page.goto(page.url.replace("tab=events", "tab=chat"))
    assert page.locator("#records .tabs a.active").get_attribute("data-tab") == "chat"

    # The plots panel loads by itself; a plot opens on its own page.
    page.locator("#plots svg.plot").first.wait_for()
    shot(page, "viewer_plots")
    page.locator("#plots a.open-plot").first.click()
    page.wait_for_url(re.compile(r"/plots/\?plot="))
    assert page.locator("svg.plot").count() == 1
    assert page.locator("svg.plot polyline").count() == 1
    shot(page, "plot_page")

    # The room page: quality panel and one line per participant.
    page.goto(f"/e/{world.experiment.public_id}/r/{world.room.public_id}/")
    page.locator("#quality").wait_for()
    page.locator("#plots svg.plot").first.wait_for()
    assert page.locator("#quality").inner_text().count("Events") >= 1
    shot(page, "room")

    # A tab's Download button opens the export dialog without touching the page's history.
    viewer = f"/e/{world.experiment.public_id}/r/{world.room.public_id}/p/"
    page.goto(f"{viewer}{world.participant.public_id}/?tab=chat")
    before = page.url
    page.click("#records a.export-button")
    page.locator("#modal .export-modal").wait_for()
    assert page.url == before
    assert page.locator("#records").count() == 1


def test_a_deidentified_collaborator_only_ever_sees_codes(transactional_db, world, page):
    browser_login(page, "collaborator")
    code = participant_code(world.experiment.public_id, world.participant.public_id)
    walk_down(page, world, code, "collaborator")
    assert page.url.endswith(f"/p/{code}/")
    for dt in T.DATA_TYPES:
        page.click(f"#records .tabs a[data-tab={dt.key}]")
        page.wait_for_url(re.compile(rf"tab={dt.key}"))
        page.locator(f"#records .tabs a.active[data-tab={dt.key}]").wait_for()
        assert world.participant.public_id not in page.content()
        assert world.participant.display_name not in page.content()
    shot(page, "collaborator_viewer")


def test_a_viewer_gets_no_download_buttons(transactional_db, world, page):
    browser_login(page, "viewer")
    code = participant_code(world.experiment.public_id, world.participant.public_id)
    walk_down(page, world, code, "viewer")
    assert page.locator(".export-button").count() == 0
    page.goto(f"/e/{world.experiment.public_id}/")
    assert page.locator(".export-button").count() == 0
