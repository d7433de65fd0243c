"""The API Keys page and the API docs page."""

from __future__ import annotations

import re
import urllib.request
from datetime import timedelta

import pytest
from django.utils import timezone

from data_browser.api import keys
from data_browser.models import ApiKey
from tests.conftest import browser_login

KEY_RE = re.compile(r"hst_live_[A-Za-z0-9]{40}")


@pytest.mark.django_db
def test_it_creates_a_key_shown_once(world, client):
    client.force_login(world.user("owner"))
    r = client.post(
        "/keys/",
        {
            "name": "analysis laptop",
            "scopes": ["read:events", "read:chat"],
            "expires_on": (timezone.now() + timedelta(days=10)).date().isoformat(),
            "experiments": [world.experiment.pk],
        },
    )
    assert r.status_code == 200
    raw = KEY_RE.search(r.content.decode()).group(0)
    key = keys.authenticate(raw)
    assert key.name == "analysis laptop" and key.scopes == ["read:events", "read:chat"]
    assert list(key.experiments.all()) == [world.experiment]
    again = client.get("/keys/").content.decode()
    assert raw not in again
    assert f"{key.prefix}…{key.last_four}" in again and "analysis laptop" in again


@pytest.mark.django_db
def test_bad_input_is_a_400_with_the_form(world, client):
    client.force_login(world.user("owner"))
    r = client.post("/keys/", {"name": "", "scopes": ["read:nothing"], "expires_on": "2001-01-01"})
    assert r.status_code == 400
    page = r.content.decode()
    assert "This field is required" in page and "read:nothing" in page and "past" in page
    assert not ApiKey.objects.filter(user=world.user("owner")).exists()


@pytest.mark.django_db
def test_other_users_experiments_cannot_be_chosen(world, client):
    client.force_login(world.user("owner"))
    r = client.post(
        "/keys/", {"name": "x", "scopes": ["read:events"], "experiments": [world.other.pk]}
    )
    assert r.status_code == 400
    assert not ApiKey.objects.filter(user=world.user("owner")).exists()


@pytest.mark.django_db
def test_it_revokes_own_keys_only_unless_lab_admin(world, client):
    key, raw = keys.create_key(world.user("collaborator"), name="c", scopes=["read:events"])
    client.force_login(world.user("viewer"))
    assert client.post(f"/keys/{key.pk}/revoke/").status_code == 404
    assert "collaborator" not in client.get("/keys/").content.decode()
    client.force_login(world.user("outsider"))
    assert client.post(f"/keys/{key.pk}/revoke/").status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None

    client.force_login(world.user("labadmin"))
    page = client.get("/keys/").content.decode()
    assert f"{key.prefix}…{key.last_four}" in page
    assert client.get(f"/keys/{key.pk}/revoke/").status_code == 405
    r = client.post(f"/keys/{key.pk}/revoke/")
    assert r.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None and key.revoked_by == world.user("labadmin")
    assert keys.authenticate(raw) is None


@pytest.mark.django_db
def test_revoke_with_htmx_answers_the_table(world, client):
    key, _raw = keys.create_key(world.user("owner"), name="mine", scopes=["read:events"])
    client.force_login(world.user("owner"))
    r = client.post(f"/keys/{key.pk}/revoke/", headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert r.content.decode().lstrip().startswith('<div id="keys-table">')
    assert "revoked" in r.content.decode()


@pytest.mark.django_db
def test_participants_get_no_key_form(world, client):
    client.force_login(world.user("participant"))
    r = client.get("/keys/")
    assert "Participant accounts cannot have API keys" in r.content.decode()
    r = client.post("/keys/", {"name": "x", "scopes": ["read:events"]})
    assert r.status_code == 400 and not ApiKey.objects.exists()


@pytest.mark.django_db
def test_docs_page_links_the_spec_with_this_host(world, client):
    client.force_login(world.user("owner"))
    page = client.get("/keys/docs/").content.decode()
    assert "http://testserver/api/v3/openapi.json" in page
    assert "http://testserver/api/v3/data/events/room/" in page
    assert "ratings/continuous" in page
    assert client.get("/api/v3/openapi.json").json()["info"]["version"] == "3.0.0"


@pytest.mark.browser
def test_a_key_made_in_the_browser_works_for_a_script(transactional_db, world, page, live_server):
    browser_login(page, "owner")
    page.click("text=API Keys")
    page.fill("input[name=name]", "browser key")
    page.uncheck("input[value='read:chat']")
    page.click("button:has-text('Create key')")
    raw = page.input_value("#new-key-value")
    assert KEY_RE.fullmatch(raw)
    page.goto("/keys/")
    assert raw not in page.content() and raw[:17] in page.content()
    request = urllib.request.Request(
        f"{live_server.url}/api/v3/data/events/room/{world.room.public_id}?limit=3",
        headers={"X-API-Key": raw},
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 200
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#keys-table button:has-text('Revoke')")
    page.wait_for_selector("#keys-table .status-revoked")
    request = urllib.request.Request(request.full_url, headers={"X-API-Key": raw})
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(request)
    assert exc.value.code == 401
