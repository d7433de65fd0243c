"""Destructive actions in Chromium at 1280x800 and 800x1000: deleting an export, removing a
member and revoking an API key each open the one confirmation page, which counts what will
go; Cancel changes nothing, confirming acts and lands back on the list (post/redirect/get).
Screenshots land in test-artifacts/."""

from __future__ import annotations

import pytest

from data_browser.api.keys import create_key
from data_browser.models import ApiKey, Membership
from exports.models import ExportJob
from tests.browser.test_pages_browser import SIZES, open_context, serious_violations
from tests.conftest import ARTIFACTS, browser_login
from tests.factories import finished_export

pytestmark = [pytest.mark.browser]


def confirmation(page, name: str, size: str) -> str:
    """The confirmation page as a reader meets it: fits, passes axe; its text."""
    page.locator(".confirm-delete").wait_for()
    scroll, inner = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, f"{name} at {size}: the page scrolls sideways"
    assert not serious_violations(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"confirm_{name}_{size}.png"), full_page=True)
    return page.locator("main").inner_text()


@pytest.mark.parametrize("size", list(SIZES))
def test_destructive_actions_count_then_ask(transactional_db, world, chromium, live_server, size):
    job = finished_export(
        world, file_name="events_room.csv", stored="confirm.csv", fingerprint="confirm", size=6
    )
    key, _raw = create_key(world.user("owner"), name="lab laptop", scopes=["read:events"])
    viewer = Membership.objects.get(user=world.user("viewer"), experiment=world.experiment)
    context, page, errors = open_context(chromium, live_server, size)
    try:
        browser_login(page, "owner")
        # An export: Cancel keeps it, confirming deletes it and lands on the list.
        page.goto("/exports/")
        page.locator(f"#export-{job.public_id} button:has-text('Delete')").click()
        text = confirmation(page, "export", size)
        assert "Delete the export events_room.csv?" in text and "Finished file" in text
        page.click("a:has-text('Cancel')")
        page.wait_for_url("**/exports/")
        assert ExportJob.objects.filter(pk=job.pk).exists()
        page.locator(f"#export-{job.public_id} button:has-text('Delete')").click()
        page.click("button:has-text('Delete the export')")
        page.wait_for_url("**/exports/")
        assert "is deleted" in page.locator(".messages").inner_text()
        assert not ExportJob.objects.filter(pk=job.pk).exists()
        # A member.
        page.goto(f"/access/{world.experiment.public_id}/")
        page.locator(
            f"form[action$='/members/{viewer.pk}/remove/'] button:has-text('Remove')"
        ).click()
        text = confirmation(page, "member", size)
        assert "Remove viewer from" in text and "Membership of viewer" in text
        page.click("button:has-text('Remove viewer')")
        page.wait_for_url(f"**/access/{world.experiment.public_id}/")
        assert not Membership.objects.filter(pk=viewer.pk).exists()
        # An API key: permanent, and it says so.
        page.goto("/keys/")
        page.locator(f"#key-{key.pk} button:has-text('Revoke')").click()
        text = confirmation(page, "key", size)
        assert "Revoking is permanent" in text and "Experiments it reads now" in text
        page.click("button:has-text('Revoke permanently')")
        page.wait_for_url("**/keys/")
        assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
        # Reloading the page the confirmation led to repeats nothing.
        page.reload()
        assert "is revoked" not in page.locator("main").inner_text()
        # Data deletion uses the same page (looked at, not confirmed).
        page.goto(f"/access/{world.experiment.public_id}/rooms/{world.room.public_id}/delete/")
        text = confirmation(page, "room_data", size)
        assert "Delete room" in text and "Total" in text and "recording file" in text
        assert not errors, errors
    finally:
        context.close()
