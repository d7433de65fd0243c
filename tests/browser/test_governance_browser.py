"""In a real browser: an owner gives a new collaborator de-identified export on the Access page;
that collaborator signs in and is offered only de-identified or aggregate exports."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

from data_browser import access
from data_browser.models import Membership, Profile
from tests.conftest import PASSWORD, browser_login

pytestmark = [pytest.mark.browser]


def test_owner_grants_deidentified_export_and_the_collaborator_gets_only_that(
    transactional_db, world, page
):
    newcomer = get_user_model().objects.create_user(
        "newresearcher", email="new.researcher@lab.test", password=PASSWORD
    )
    Profile.objects.create(user=newcomer, lab=world.lab)
    exp = world.experiment.public_id

    browser_login(page, "owner")
    page.goto("/access/")
    page.click(f"a[href='/access/{exp}/']")
    page.fill("#add-member input[name=identifier]", "new.researcher@lab.test")
    page.select_option("#add-member select[name=role]", "collaborator")
    page.select_option("#add-member select[name=export_right]", "deidentified")
    page.click("#add-member button[type=submit]")
    page.wait_for_selector("tr[data-member=newresearcher]")
    assert "now has access" in page.inner_text(".messages")
    m = Membership.objects.get(user=newcomer, experiment=world.experiment)
    assert m.export_right == "deidentified"
    page.click("form.logout button")
    page.wait_for_url(re.compile(r".*/login/.*"))

    browser_login(page, "newresearcher")
    page.goto(f"/e/{exp}/r/{world.room_ref('collaborator')}/")  # de-identified: the room's code
    button = page.locator("a.export-button[data-export-level=room]").first
    button.click()
    page.wait_for_selector("#modal input[name=anonymization]")
    offered = {
        el.get_attribute("value")
        for el in page.query_selector_all("#modal input[name=anonymization]")
    }
    assert offered == {"remove", "aggregate"}
    assert offered == set(access.for_user(newcomer).allowed_anonymizations(world.experiment))
    assert "Keep identifiers" not in page.inner_text("#modal")

    # Their own membership is read-only to them on the Access page.
    page.goto(f"/access/{exp}/")
    assert "read-only" in page.inner_text("main")
    assert page.locator("#add-member").count() == 0
