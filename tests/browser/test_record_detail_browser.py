"""Click a row to expand it, in Chromium at 1280x800 and 800x1000: the row opens under itself
with the whole record, the variables in force and the raw JSON, inside the table's frame (the
page never scrolls sideways), by mouse and by keyboard; a second click folds it away.
Screenshots land in test-artifacts/."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from playwright.sync_api import expect

from data_browser import datatypes as T
from tests.browser.test_pages_browser import SIZES, open_context, serious_violations
from tests.conftest import ARTIFACTS, browser_login

pytestmark = [pytest.mark.browser]


@contextmanager
def signed_in(chromium, live_server, size: str):
    """The owner signed in, in a fresh context of the given size: (page, console errors)."""
    context, page, errors = open_context(chromium, live_server, size)
    try:
        browser_login(page, "owner")
        yield page, errors
    finally:
        context.close()


def fits(page) -> tuple[int, int]:
    return page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")


@pytest.mark.parametrize("size", list(SIZES))
def test_a_clicked_event_row_expands_into_the_whole_record(
    transactional_db, world, chromium, live_server, size
):
    with signed_in(chromium, live_server, size) as (page, errors):
        e, r, p = world.experiment.public_id, world.room.public_id, world.participant.public_id
        page.goto(f"/e/{e}/r/{r}/p/{p}/?tab=events")
        toggles = page.locator("#records button.row-toggle")
        first = toggles.nth(2)  # an event after the first component snapshot
        assert first.get_attribute("aria-expanded") == "false"
        first.click()
        detail = page.locator("#records tr.record-detail")
        detail.wait_for()
        # htmx marks the button once it has processed the new row, a moment after inserting it
        expect(first).to_have_attribute("aria-expanded", "true")
        assert first.get_attribute("aria-controls") == detail.get_attribute("id")
        assert detail.count() == 1
        text = detail.inner_text()
        for label in ("Complete record", "Event type", "Participant role", "Raw JSON"):
            assert label in text
        assert "Variable states at the time of the event" in text
        assert page.url.endswith("?tab=events")  # expanding pushes no URL
        # The row spans the table; its content keeps to the frame's visible width.
        row_cells = page.evaluate(
            "() => document.querySelector('tr.record-detail').previousElementSibling.cells.length"
        )
        assert detail.locator("td").get_attribute("colspan") == str(row_cells)
        frame, body = page.evaluate(
            """() => [document.querySelector('#records .table-container').clientWidth,
                      document.querySelector('tr.record-detail .detail-body').offsetWidth]"""
        )
        assert body <= frame
        scroll, inner = fits(page)
        assert scroll <= inner, f"the page scrolls sideways ({scroll} > {inner} px)"
        assert not serious_violations(page)
        ARTIFACTS.mkdir(exist_ok=True)
        page.evaluate(
            """() => { const d = document.querySelector('tr.record-detail');
                       const row = d.previousElementSibling;
                       row.closest('.table-container').scrollTop = row.offsetTop - 40; }"""
        )
        page.locator("#records").screenshot(
            path=str(ARTIFACTS / f"record_detail_events_{size}.png")
        )
        # A second click folds the row away without a request; a third shows it again.
        first.click()
        assert detail.is_hidden() and first.get_attribute("aria-expanded") == "false"
        first.click()
        assert detail.is_visible() and first.get_attribute("aria-expanded") == "true"
        assert page.locator("#records tr.record-detail").count() == 1
        # By keyboard: the next row's button, focused and pressed with Enter.
        toggles.nth(3).focus()
        page.keyboard.press("Enter")
        page.locator("#records tr.record-detail").nth(1).wait_for()
        expect(toggles.nth(3)).to_have_attribute("aria-expanded", "true")
        assert page.evaluate("document.activeElement.dataset.rowDetail") is not None
        # A click on the row itself (a cell without a link) expands it as its button does.
        toggles.nth(5).locator("xpath=ancestor::tr").locator("td.num").first.click()
        page.locator("#records tr.record-detail").nth(2).wait_for()
        expect(toggles.nth(5)).to_have_attribute("aria-expanded", "true")
        assert not errors, errors


@pytest.mark.parametrize("size", list(SIZES))
def test_every_tab_of_a_room_has_rows_that_expand(
    transactional_db, world, chromium, live_server, size
):
    with signed_in(chromium, live_server, size) as (page, errors):
        e, r = world.experiment.public_id, world.room.public_id
        for dt in T.DATA_TYPES:
            page.goto(f"/e/{e}/r/{r}/data/?tab={dt.key}")
            shown_as = page.locator("#records details.as-table > summary")
            if shown_as.count():  # the transcript and the cards keep the table folded
                shown_as.click()
            page.locator("#records button.row-toggle").first.click()
            detail = page.locator("#records tr.record-detail")
            detail.wait_for()
            assert "Complete record" in detail.inner_text(), dt.key
            scroll, inner = fits(page)
            assert scroll <= inner, f"{dt.key} at {size}: {scroll} > {inner} px"
            page.locator("#records").screenshot(
                path=str(ARTIFACTS / f"record_detail_room_{dt.key}_{size}.png")
            )
        assert not errors, errors


def test_the_records_own_page_fits(transactional_db, world, chromium, live_server):
    """The detail URL opened directly (a link, a reload): the record's own page."""
    event = T.EVENTS.model.objects.filter(room=world.room).order_by("onset").last()
    for size in SIZES:
        with signed_in(chromium, live_server, size) as (page, errors):
            page.goto(f"/e/{world.experiment.public_id}/records/events/{event.pk}/")
            assert page.locator("h1").inner_text() == "Events record"
            scroll, inner = fits(page)
            assert scroll <= inner
            assert not serious_violations(page)
            page.screenshot(path=str(ARTIFACTS / f"record_page_{size}.png"), full_page=True)
            assert not errors, errors
