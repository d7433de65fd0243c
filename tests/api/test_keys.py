"""Key lifecycle: create, use, expire, revoke, scope denial, membership removal; storage."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from data_browser.api import keys
from data_browser.models import ApiKey, AuditEntry, Membership

pytestmark = pytest.mark.django_db


def test_a_key_is_stored_as_prefix_and_hmac_only(world):
    key, raw = keys.create_key(world.user("owner"), name="laptop", scopes=["read:events"])
    assert raw.startswith("hst_live_") and len(raw) == keys.KEY_LENGTH
    stored = ApiKey.objects.get(pk=key.pk)
    assert raw.startswith(stored.prefix) and stored.last_four == raw[-4:]
    assert raw not in str(vars(stored)) and raw[len(stored.prefix) : -4] not in stored.key_hash
    other = raw[:-1] + ("x" if raw[-1] != "x" else "y")  # one character off
    assert stored.key_hash == keys.key_hash(raw) != keys.key_hash(other)
    assert keys.authenticate(raw) == stored
    assert keys.authenticate(other) is None
    assert AuditEntry.objects.filter(action="api_key.created", details__key=stored.prefix).exists()


def test_unknown_scopes_and_past_expiry_are_refused(world):
    with pytest.raises(keys.InvalidKeyRequest, match="read:everything"):
        keys.create_key(world.user("owner"), name="x", scopes=["read:everything"])
    with pytest.raises(keys.InvalidKeyRequest, match="future"):
        keys.create_key(
            world.user("owner"),
            name="x",
            scopes=["read:events"],
            expires_at=timezone.now() - timedelta(days=1),
        )
    with pytest.raises(keys.InvalidKeyRequest, match="member"):
        keys.create_key(
            world.user("owner"), name="x", scopes=["read:events"], experiments=[world.other]
        )


def test_lifecycle_use_revoke(world, make_key, api):
    raw = make_key(scopes=("read:events",))
    key = ApiKey.objects.get(prefix=raw[:17])
    path = f"/data/events/room/{world.room.public_id}"
    assert key.last_used_at is None
    assert api(path, raw, limit=1).status_code == 200
    key.refresh_from_db()
    first_use = key.last_used_at
    assert first_use is not None
    api(path, raw, limit=1)
    key.refresh_from_db()
    assert key.last_used_at == first_use  # written at most once a minute
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=first_use - timedelta(minutes=2))
    api(path, raw, limit=1)
    key.refresh_from_db()
    assert key.last_used_at > first_use - timedelta(minutes=1)

    assert keys.revoke_key(key, world.user("owner")) is True
    assert api(path, raw, limit=1).status_code == 401
    revoked = AuditEntry.objects.filter(action="api_key.revoked", details__key=key.prefix)
    assert [e.details["by"] for e in revoked] == ["owner"]
    # A second revocation (a stale object: the lab page and the key page at once) writes nothing.
    stale = ApiKey.objects.get(pk=key.pk)
    stale.revoked_at = None
    assert keys.revoke_key(stale, world.user("labadmin")) is False
    assert revoked.count() == 1


def test_expired_key_is_401(world, make_key, api):
    raw = make_key(expires_at=timezone.now() + timedelta(hours=1))
    path = f"/data/events/room/{world.room.public_id}"
    assert api(path, raw, limit=1).status_code == 200
    ApiKey.objects.filter(prefix=raw[:17]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert api(path, raw, limit=1).status_code == 401


def test_membership_removal_cuts_the_key_off_at_once(world, make_key, api):
    raw = make_key("fullcollab")
    path = f"/data/events/room/{world.room.public_id}"
    assert api(path, raw, limit=1).status_code == 200
    Membership.objects.filter(user=world.user("fullcollab"), experiment=world.experiment).delete()
    assert api(path, raw, limit=1).status_code == 404


def test_inactive_owner_cuts_the_key_off(world, make_key, api):
    raw = make_key()
    user = world.user("owner")
    user.is_active = False
    user.save()
    assert api(f"/data/events/room/{world.room.public_id}", raw).status_code == 401


def test_api_access_is_audited_once_per_key_and_day(world, make_key, api):
    raw = make_key()
    prefix = raw[:17]
    path = f"/data/events/room/{world.room.public_id}"
    for _ in range(3):
        api(path, raw, limit=1)
    entries = AuditEntry.objects.filter(action="api.access", details__key=prefix)
    assert entries.count() == 1
    assert entries.get().details["day"] == timezone.now().date().isoformat()


def test_create_api_key_command_prints_the_key_last(world, capsys):
    call_command(
        "create_api_key",
        "--user",
        "owner",
        "--scopes",
        "read:events,read:chat",
        "--expires-days",
        "30",
    )
    last = capsys.readouterr().out.strip().splitlines()[-1]
    key = keys.authenticate(last)
    assert key is not None and key.user == world.user("owner")
    assert key.scopes == ["read:events", "read:chat"]
    assert timedelta(days=29) < key.expires_at - timezone.now() <= timedelta(days=30)


def test_create_api_key_command_explains_bad_input(world):
    with pytest.raises(CommandError, match="no user"):
        call_command("create_api_key", "--user", "nobody", "--scopes", "read:events")
    with pytest.raises(CommandError, match="read:all"):
        call_command("create_api_key", "--user", "owner", "--scopes", "read:all")
    with pytest.raises(CommandError, match="expires-days"):
        call_command(
            "create_api_key", "--user", "owner", "--scopes", "read:events", "--expires-days", "0"
        )
