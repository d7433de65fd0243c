"""In Chromium: open the export dialog on a room, watch the bar, get the file; cancel another."""

from __future__ import annotations

import zipfile

import pytest

from data_browser.models import Event
from exports.models import ExportJob, Status
from tests.conftest import browser_login
from tests.factories import bulk_events

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.postgres]


def room_url(world) -> str:
    return f"/e/{world.experiment.public_id}/r/{world.room.public_id}/"


def test_a_room_zip_downloads_by_itself_and_another_can_be_cancelled(
    transactional_db, world, page, export_worker, tmp_path
):
    browser_login(page, "owner")
    page.goto(room_url(world))
    page.click("a.export-button[data-export-level=room]")
    dialog = page.locator("#modal .export-modal")
    dialog.wait_for()
    assert dialog.locator("input[name=anonymization][value=keep]").is_checked()
    dialog.locator("input[name=fmt][value=zip]").check()

    with page.expect_download(timeout=90000) as download_info:
        dialog.locator("button[type=submit]").click()
        page.locator("#export-progress progress").wait_for()
    download = download_info.value
    assert download.suggested_filename.endswith(".zip")
    assert world.room.public_id in download.suggested_filename
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        assert f"{world.room.public_id}/events.csv" in names and "metadata.json" in names
        events = archive.read(f"{world.room.public_id}/events.csv").decode().splitlines()
        assert len(events) - 1 == Event.objects.filter(room=world.room).count()
    page.locator("#export-progress[data-state=succeeded]").wait_for()
    assert "100%" in page.locator("#export-progress .export-percent").inner_text()

    # A bigger export of the same room, cancelled while the bar moves.
    bulk_events(world, 150_000)
    page.locator("[data-close-modal]").first.click()
    page.click("a.export-button[data-export-level=room]")
    dialog.wait_for()
    dialog.locator("input[name=fmt][value=json]").check()
    dialog.locator("input[name=anonymization][value=remove]").check()
    dialog.locator("button[type=submit]").click()
    progress = page.locator("#export-progress")
    progress.wait_for()
    page.wait_for_function(
        "() => { const p = document.querySelector('#export-progress progress');"
        " return p && Number(p.value) > 0; }",
        timeout=90000,
    )
    page.click("#export-progress .export-cancel")
    page.locator("#export-progress[data-state=cancelled]").wait_for(timeout=10000)
    assert "Cancelled" in progress.inner_text()
    job = ExportJob.objects.order_by("-created_at").first()
    assert job.status == Status.CANCELLED and not job.file


def test_a_filtered_tab_downloads_only_the_rows_it_shows(
    transactional_db, world, page, export_worker, tmp_path
):
    """Filter a Data Viewer tab, press its Download: the file holds the tab's rows only, the
    filters are in metadata.json, and CSV for Excel starts with the BOM. The dialog and My
    exports fit at 1280 and 800 px (screenshots in test-artifacts/)."""
    import codecs
    import json

    from data_browser import datatypes as T
    from data_browser.filters import record_filterset
    from tests.conftest import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    e, r, p = world.experiment.public_id, world.room.public_id, world.participant.public_id
    scope = Event.objects.filter(room=world.room, participant=world.participant)
    filters = {"category": "component"}
    expected = record_filterset(T.EVENTS)(filters, queryset=scope).qs
    assert 0 < expected.count() < scope.count()

    browser_login(page, "owner")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"/e/{e}/r/{r}/p/{p}/?tab=events")
    plain = page.locator("#records a.export-button")
    assert plain.get_attribute("data-export-filtered") == "false"
    page.select_option("#records form.filters select[name=category]", "component")
    page.click("#records form.filters button[type=submit]")
    page.locator("#records .match-count").wait_for()
    button = page.locator("#records a.export-button[data-export-filtered=true]")
    assert "(filtered)" in button.inner_text()
    button.click()
    dialog = page.locator("#modal .export-modal")
    dialog.wait_for()
    listed = dialog.locator(".export-filters").inner_text()
    assert "Category" in listed and "Component" in listed
    assert not dialog.locator("input[name=csv_bom]").is_checked()  # off unless asked
    fits = "() => document.documentElement.scrollWidth <= window.innerWidth"
    assert page.evaluate(fits)
    page.screenshot(path=str(ARTIFACTS / "export_dialog_filtered_wide.png"))
    page.set_viewport_size({"width": 800, "height": 1000})
    assert page.evaluate(fits)
    assert page.evaluate(
        "() => { const m = document.querySelector('#modal .export-modal').getBoundingClientRect();"
        " return m.left >= 0 && m.right <= window.innerWidth; }"
    )
    page.screenshot(path=str(ARTIFACTS / "export_dialog_filtered_narrow.png"))
    page.set_viewport_size({"width": 1280, "height": 800})

    dialog.locator("input[name=csv_bom]").check()
    with page.expect_download(timeout=90000) as download_info:
        dialog.locator("button[type=submit]").click()
        page.locator("#export-progress progress").wait_for()
    download = download_info.value
    assert download.suggested_filename.endswith(".zip")
    assert "filtered" in download.suggested_filename
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    with zipfile.ZipFile(path) as archive:
        data = archive.read("events.csv")
        meta = json.loads(archive.read("metadata.json"))
    assert data.startswith(codecs.BOM_UTF8)
    lines = data.removeprefix(codecs.BOM_UTF8).decode().splitlines()
    ids = sorted(line.split(",", 1)[0] for line in lines[1:])
    assert ids == sorted(expected.values_list("record_id", flat=True))
    assert meta["filters"] == filters and meta["csv"]["byteOrderMark"] is True
    job = ExportJob.objects.get(filters=filters)
    assert job.status == Status.SUCCEEDED and job.csv_bom

    for width, height, name in ((1280, 800, "wide"), (800, 1000, "narrow")):
        page.set_viewport_size({"width": width, "height": height})
        page.goto("/exports/")
        assert "Filtered" in page.locator(f"#export-{job.public_id}").inner_text()
        assert page.evaluate(fits), f"My exports scrolls sideways at {width} px"
        page.screenshot(path=str(ARTIFACTS / f"export_list_filtered_{name}.png"), full_page=True)
    # Without filters the same tab exports the participant's events as one plain CSV.
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"/e/{e}/r/{r}/p/{p}/?tab=events")
    page.locator("#records a.export-button[data-export-filtered=false]").click()
    dialog.wait_for()
    assert dialog.locator(".export-filters").count() == 0
    page.screenshot(path=str(ARTIFACTS / "export_dialog_plain_wide.png"))
