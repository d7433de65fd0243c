"""The API Keys page and the API docs page."""

from __future__ import annotations

import re
import urllib.request
from datetime import timedelta

import pytest
from django.utils import timezone

from data_browser import datatypes as T
from data_browser.api import keys
from data_browser.models import ApiKey
from tests.conftest import browser_login
from tests.factories import ExportJobFactory

KEY_RE = re.compile(r"hst_live_[A-Za-z0-9]{64}")


def _create(client, **fields):
    data = {"name": "analysis laptop", "scopes": ["read:events"], "expires_in": "90d"}
    return client.post("/keys/", {**data, **fields})


@pytest.mark.django_db
def test_it_creates_a_key_shown_once_after_a_redirect(world, client):
    client.force_login(world.user("owner"))
    r = _create(
        client,
        description="For the weekly CSV exports",
        scopes=["read:events", "read:chat"],
        expires_in="30d",
        experiments=[world.experiment.pk],
    )
    assert r.status_code == 302 and r["Location"].startswith("/keys/")
    page = client.get(r["Location"]).content.decode()
    raw = KEY_RE.search(page).group(0)
    key = keys.authenticate(raw)
    assert key.name == "analysis laptop" and key.scopes == ["read:events", "read:chat"]
    assert key.description == "For the weekly CSV exports"
    assert list(key.experiments.all()) == [world.experiment]
    assert abs(key.expires_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
    assert "Download .env File" in page and "I've Saved It" in page and "Copy" in page
    env = f"HYPERSTUDY_API_KEY%3D{raw}%0AHYPERSTUDY_BASE_URL%3Dhttp%3A%2F%2Ftestserver%2Fapi%2Fv3"
    assert env in page
    # a reload shows the key no more and never makes a second one
    again = client.get(r["Location"]).content.decode()
    assert raw not in again and ApiKey.objects.filter(user=world.user("owner")).count() == 1
    masked = f"hst_live_{key.prefix[9:15]}...******"
    assert masked in again and "analysis laptop" in again


@pytest.mark.django_db
@pytest.mark.parametrize(("choice", "days"), [("7d", 7), ("90d", 90), ("1y", 365), ("never", None)])
def test_the_expiry_choices(world, client, choice, days):
    client.force_login(world.user("owner"))
    assert _create(client, expires_in=choice).status_code == 302
    key = ApiKey.objects.get(user=world.user("owner"))
    if days is None:
        assert key.expires_at is None
    else:
        assert abs(key.expires_at - (timezone.now() + timedelta(days=days))) < timedelta(minutes=1)


@pytest.mark.django_db
def test_bad_input_is_a_400_with_the_form(world, client):
    client.force_login(world.user("owner"))
    r = client.post("/keys/", {"name": "", "scopes": ["read:nothing"], "expires_in": "2w"})
    assert r.status_code == 400
    page = r.content.decode()
    assert "This field is required" in page and "read:nothing" in page and "2w" in page
    assert not ApiKey.objects.filter(user=world.user("owner")).exists()


@pytest.mark.django_db
def test_wildcard_scopes_read_every_type(world, make_key, api):
    for wildcard in ("read:*", "*"):
        key = make_key(scopes=(wildcard,))
        for dt in T.DATA_TYPES:
            r = api(f"/data/{dt.api_name}/room/{world.room.public_id}", key, limit=1)
            assert r.status_code == 200, (wildcard, dt.key)
    read_all = make_key(scopes=("read:*",))
    r = client_post_ingest(api, read_all)
    assert r.status_code == 403  # read:* is no write scope
    # a data type added later is covered by the wildcards, not by a list of today's scopes
    assert T.grants(["read:*"], "read:videochat") and T.grants(["*"], "write:anything")
    assert not T.grants(["read:events"], "read:videochat")


def client_post_ingest(api, key):
    from django.test import Client

    return Client().post(
        "/api/v3/ingest/events", [], content_type="application/json", headers={"X-API-Key": key}
    )


@pytest.mark.django_db
def test_the_keys_page_serves_its_table_to_htmx(world, client, make_key):
    make_key(scopes=("read:events",))
    client.force_login(world.user("owner"))
    partial = client.get("/keys/", headers={"HX-Request": "true"}).content.decode()
    assert 'id="keys-table"' in partial and "<html" not in partial and "Create a key" not in partial
    page = client.get("/keys/").content.decode()
    assert 'id="keys-table"' in page and "Create a key" in page


@pytest.mark.django_db
def test_key_times_read_in_the_readers_zone(world, client, make_key):
    """The list and a key's page show its times in the zone the reader chose, labelled with
    it (they said UTC whatever the zone was)."""
    from zoneinfo import ZoneInfo

    from data_browser.models import Profile

    soon = timezone.now() + timedelta(days=3)
    key = keys.authenticate(make_key(scopes=("read:events",), expires_at=soon))
    Profile.objects.filter(user=world.user("owner")).update(time_zone="Asia/Tokyo")
    client.force_login(world.user("owner"))
    expires = key.expires_at.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%Y-%m-%d %H:%M")
    page = client.get(f"/keys/{key.pk}/").content.decode()
    assert f"{expires} (Asia/Tokyo)" in page and "UTC" not in page.split("<h2>")[0]
    listing = client.get("/keys/").content.decode()
    assert "Last used (Asia/Tokyo)" in listing and expires in listing


@pytest.mark.django_db
def test_details_show_status_usage_and_examples_for_this_server(world, client, make_key, api):
    raw = make_key(scopes=("read:events",))
    key = keys.authenticate(raw)
    for _ in range(3):
        api(f"/data/events/room/{world.room.public_id}", raw, limit=1)
    client.force_login(world.user("owner"))
    page = client.get(f"/keys/{key.pk}/").content.decode()
    assert 'id="key-status">active<' in page and "read:events" in page
    assert 'id="request-count">3<' in page and 'id="last-ip">127.0.0.1<' in page
    assert "http://testserver/api/v3/data/events/room/room_" in page
    assert "HYPERSTUDY_API_KEY" in page and raw not in page
    for language in ("curl", "Python", "JavaScript", "R"):
        assert f"<h3>{language}</h3>" in page
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert 'id="key-status">expired<' in client.get(f"/keys/{key.pk}/").content.decode()
    r = client.post(f"/keys/{key.pk}/revoke/", {"next": "detail", "confirmed": "1"})
    assert r.status_code == 302 and r["Location"] == f"/keys/{key.pk}/"
    assert 'id="key-status">revoked<' in client.get(f"/keys/{key.pk}/").content.decode()
    # revoked is permanent: no edit, no second revoke
    assert client.get(f"/keys/{key.pk}/edit/").status_code == 404
    assert keys.authenticate(raw) is None


@pytest.mark.django_db
def test_edit_changes_name_description_and_scopes_only(world, client, make_key, api):
    raw = make_key(scopes=("read:events",), expires_at=timezone.now() + timedelta(days=5))
    key = keys.authenticate(raw)
    client.force_login(world.user("owner"))
    assert client.get(f"/keys/{key.pk}/edit/").status_code == 200
    assert api(f"/data/chat/room/{world.room.public_id}", raw).status_code == 403
    r = client.post(
        f"/keys/{key.pk}/edit/",
        {
            "name": "renamed",
            "description": "now also chat",
            "scopes": ["read:events", "read:chat"],
            "expires_in": "never",
            "expires_at": "",
        },
    )
    assert r.status_code == 302
    updated = ApiKey.objects.get(pk=key.pk)
    assert (updated.name, updated.description) == ("renamed", "now also chat")
    assert updated.scopes == ["read:events", "read:chat"]
    assert updated.expires_at == key.expires_at and updated.key_hash == key.key_hash
    assert api(f"/data/chat/room/{world.room.public_id}", raw).status_code == 200
    assert client.post(f"/keys/{key.pk}/edit/", {"name": "x", "scopes": []}).status_code == 400
    # a lab admin may see and revoke a lab member's key but not change it
    client.force_login(world.user("labadmin"))
    assert client.get(f"/keys/{key.pk}/").status_code == 200
    assert client.get(f"/keys/{key.pk}/edit/").status_code == 404


@pytest.mark.django_db
def test_keys_made_before_keep_working(world, make_key, api):
    key, raw = keys.create_key(world.user("owner"), name="old", scopes=["read:events"])
    old_raw = raw[: len(keys.KEY_PREFIX) + 40]
    ApiKey.objects.filter(pk=key.pk).update(key_hash=keys.key_hash(old_raw), last_four=old_raw[-4:])
    assert len(raw) == len("hst_live_") + 64
    assert api(f"/data/events/room/{world.room.public_id}", old_raw, limit=1).status_code == 200


@pytest.mark.django_db
def test_other_users_experiments_cannot_be_chosen(world, client):
    client.force_login(world.user("owner"))
    r = _create(client, experiments=[world.other.pk])
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
    assert keys.masked(key) in page
    assert client.get(f"/keys/{key.pk}/revoke/").status_code == 405
    r = client.post(f"/keys/{key.pk}/revoke/", {"confirmed": "1"})
    assert r.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None and key.revoked_by == world.user("labadmin")
    assert keys.authenticate(raw) is None


@pytest.mark.django_db
def test_revoking_first_counts_what_it_takes_away_and_revokes_nothing(world, client):
    """Revoking is permanent: the first POST is the confirmation (the key, the experiments it
    reads, its running exports, its requests), the confirmation's POST revokes and redirects."""
    key, raw = keys.create_key(world.user("owner"), name="mine", scopes=["read:events"])
    ExportJobFactory(user=key.user, experiment=world.experiment, api_key=key, status="queued")
    ExportJobFactory(user=key.user, experiment=world.experiment)  # not started with the key
    client.force_login(world.user("owner"))
    r = client.post(f"/keys/{key.pk}/revoke/", {"next": "detail"})
    assert r.status_code == 200
    rows = dict(r.context["confirm"].rows)
    assert rows[f"API key {keys.masked(key)} of owner"] == 1
    assert rows["Experiments it reads now"] == len(keys.reach(key)) > 0
    assert rows["Exports started with it, still running (they end, denied)"] == 1
    page = r.content.decode()
    assert "Revoking is permanent" in page and ">Revoke permanently</button>" in page
    assert 'name="next" value="detail"' in page and 'name="confirmed" value="1"' in page
    key.refresh_from_db()
    assert key.revoked_at is None and keys.authenticate(raw) is not None
    done = client.post(f"/keys/{key.pk}/revoke/", {"next": "detail", "confirmed": "1"})
    assert done.status_code == 302 and done["Location"] == f"/keys/{key.pk}/"
    assert keys.authenticate(raw) is None
    again = client.post(f"/keys/{key.pk}/revoke/")  # revoked already: nothing to confirm
    assert again.status_code == 302


@pytest.mark.django_db
def test_participants_get_no_key_form(world, client):
    client.force_login(world.user("participant"))
    r = client.get("/keys/")
    assert "Participant accounts cannot have API keys" in r.content.decode()
    r = _create(client)
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
    page.uncheck("input[value='read:*']")
    page.check("input[value='read:events']")
    page.click("button:has-text('Create API Key')")
    raw = page.input_value("#new-key-value")
    assert KEY_RE.fullmatch(raw)
    page.click("#saved-it")
    assert raw not in page.content() and raw[:15] + "...******" in page.content()
    request = urllib.request.Request(
        f"{live_server.url}/api/v3/data/events/room/{world.room.public_id}?limit=3",
        headers={"X-API-Key": raw},
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 200
    page.click("#keys-table button:has-text('Revoke')")
    page.click("button:has-text('Revoke permanently')")
    page.wait_for_selector("#keys-table .status-revoked")
    request = urllib.request.Request(request.full_url, headers={"X-API-Key": raw})
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(request)
    assert exc.value.code == 401
