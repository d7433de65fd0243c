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
