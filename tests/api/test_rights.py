"""The API's access matrix: every data endpoint x every export right x every format.

Reading records through the API is exporting: a key reads rows only where its owner's export
right is de-identified (codes, as in exports) or full (identifiers); a view-only or an
aggregate-only right gets a 403 that names the right it lacks, an experiment the key does not
reach a 404. ``check-access`` tells a script which of these it is before it asks.
"""

from __future__ import annotations

import pytest

from data_browser import datatypes as T
from data_browser.api import keys, records
from data_browser.api.keys import InvalidKeyRequest, create_key, lookup_prefix
from data_browser.identity import participant_code
from data_browser.models import ApiKey, Membership, Participant, RoomParticipant

pytestmark = pytest.mark.django_db

# Every format the data endpoints serve (a format added there is covered here at once).
FORMATS = records.FORMATS
SCOPES = ("experiment", "room", "participant")
ROWS = ("owner", "fullcollab", "collaborator")  # roles whose keys read records
REFUSED = {"viewer": "none", "aggcollab": "aggregate"}  # member, right below row level
OUTSIDE = ("outsider", "labadmin")  # no membership of the experiment


def scope_id(world, role: str, scope: str) -> str:
    if scope == "experiment":
        return world.experiment.public_id
    if scope == "room":
        return world.room_ref(role)
    pid = world.participant.public_id
    if role in ("owner", "fullcollab"):
        return pid
    return participant_code(world.experiment.public_id, pid)


# The later edition's listings are data endpoints too (participant ids, names, emails).
LISTINGS = (("rooms", "experiment"), ("participants", "experiment"), ("participants", "room"))


def endpoints(world, role: str):
    """(label, path) of every data endpoint: the seven types x three scopes, the listings."""
    for dt in T.DATA_TYPES:
        for scope in SCOPES:
            yield (dt.key, scope), f"/data/{dt.api_name}/{scope}/{scope_id(world, role, scope)}"
    for name, scope in LISTINGS:
        yield (name, scope), f"/data/{name}/{scope}/{scope_id(world, role, scope)}"


def body_text(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def identifiers(world) -> set[str]:
    people = Participant.objects.filter(
        room_participants__room__experiment=world.experiment
    ).distinct()
    return {p.public_id for p in people}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("role", ROWS)
def test_row_level_rights_read_every_type_and_scope(world, make_key, api, role, fmt):
    key = make_key(role)
    ids = identifiers(world)
    for (name, scope), path in endpoints(world, role):
        r = api(path, key, format=fmt, limit=50)
        assert r.status_code == 200, (name, scope, r.content[:200])
        text = body_text(r)
        if scope == "room" and name in ("events", "chat", "participants"):
            assert rows_of_text(text, fmt), (name, scope)
        leaked = {pid for pid in ids if pid in text}
        if role == "collaborator":
            # De-identified: codes exactly as in exports, no participant id anywhere.
            assert not leaked, (name, scope, fmt, leaked)
        elif (name, scope) in (("events", "participant"), ("participants", "room")):
            assert world.participant.public_id in text, (name, scope)


def rows_of_text(text: str, fmt: str) -> bool:
    if fmt == "csv":
        return text.count("\n") > 1
    return '"data":[]' not in text


def test_deidentified_rows_carry_the_export_codes(world, make_key, api):
    key = make_key("collaborator")
    r = api(f"/data/events/room/{world.room_ref('collaborator')}", key, limit=1000)
    codes = {row["participantId"] for row in r.json()["data"]}
    expected = {
        participant_code(world.experiment.public_id, rp.participant.public_id)
        for rp in RoomParticipant.objects.filter(room=world.room).select_related("participant")
    }
    assert codes and codes <= expected


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("role", sorted(REFUSED))
def test_rights_below_row_level_get_403_naming_the_right(world, make_key, api, role, fmt):
    key = make_key(role)
    for (name, scope), path in endpoints(world, role):
        r = api(path, key, format=fmt, limit=50)
        assert r.status_code == 403, (name, scope, r.status_code)
        assert r["Content-Type"].startswith("application/json")
        text = r.content.decode()
        assert "export right" in text
        assert "de-identified" in text.lower() or "deidentified" in text
        assert REFUSED[role] in text  # the right the key's owner has
        assert world.participant.public_id not in text


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("role", OUTSIDE)
def test_keys_without_a_membership_get_404(world, make_key, api, role, fmt):
    key = make_key(role)
    for (name, scope), path in endpoints(world, "collaborator"):
        assert api(path, key, format=fmt, limit=50).status_code == 404, (name, scope)
    for dt in T.DATA_TYPES:
        r = api(f"/data/{dt.api_name}/participant/{world.participant.public_id}", key, format=fmt)
        assert r.status_code == 404


def test_participant_accounts_get_no_keys(world):
    with pytest.raises(InvalidKeyRequest):
        create_key(world.user("participant"), name="mine", scopes=T.ALL_SCOPES)


def test_a_raw_participant_id_is_a_404_below_the_full_right(world, make_key, api):
    raw = world.participant.public_id
    for role in ("collaborator", "viewer", "aggcollab"):
        r = api(f"/data/events/participant/{raw}", make_key(role))
        assert r.status_code == 404, role


def test_a_lowered_right_applies_to_the_next_read_of_the_same_key(world, make_key, api):
    key = make_key("fullcollab")
    path = f"/data/chat/room/{world.room.public_id}"
    assert api(path, key).status_code == 200
    m = Membership.objects.get(user=world.user("fullcollab"), experiment=world.experiment)
    m.export_right = "aggregate"
    m.save()
    # Below the full right the room is known by its code (its id is a 404 from now on).
    assert api(path, key, format="csv").status_code == 404
    coded = f"/data/chat/room/{world.room_ref('aggcollab')}"
    r = api(coded, key, format="csv")
    assert r.status_code == 403 and "aggregate" in r.content.decode()
    m.delete()
    assert api(path, key).status_code == 404
    assert api(coded, key).status_code == 404


def test_a_key_restricted_to_another_experiment_reads_nothing_here(world, make_key, api):
    key = make_key("owner", experiments=[world.solo])
    assert api(f"/data/events/room/{world.room.public_id}", key).status_code == 404
    r = api(f"/data/check-access/experiment/{world.experiment.public_id}", key)
    assert r.status_code == 404


def test_a_key_whose_experiments_are_all_deleted_reads_nothing(world, make_key, api):
    """The restriction outlives its experiments: deleting them must not widen the key."""
    raw = make_key("owner", experiments=[world.solo])
    world.solo.delete()
    experiment = world.experiment.public_id
    assert api(f"/data/events/experiment/{experiment}", raw).status_code == 404
    assert api(f"/data/events/room/{world.room.public_id}", raw).status_code == 404
    assert api(f"/data/check-access/experiment/{experiment}", raw).status_code == 404
    key = ApiKey.objects.get(prefix=lookup_prefix(raw))
    assert key.restricted and keys.reach(key) == []


# check-access


@pytest.mark.parametrize(
    ("role", "can_export", "right"),
    [
        ("owner", True, "full"),
        ("fullcollab", True, "full"),
        ("collaborator", True, "deidentified"),
        ("aggcollab", True, "aggregate"),
        ("viewer", False, "none"),
    ],
)
def test_check_access_answers_for_the_key(world, make_key, api, role, can_export, right):
    r = api(f"/data/check-access/experiment/{world.experiment.public_id}", make_key(role))
    assert r.status_code == 200
    assert r.json() == {
        "status": "success",
        "canView": True,
        "canExport": can_export,
        "exportRight": right,
    }


@pytest.mark.parametrize("role", OUTSIDE)
def test_check_access_is_a_404_outside_the_keys_reach(world, make_key, api, role):
    r = api(f"/data/check-access/experiment/{world.experiment.public_id}", make_key(role))
    assert r.status_code == 404
    assert api("/data/check-access/experiment/exp_nope", make_key("owner")).status_code == 404


def test_check_access_needs_a_key_but_no_scope(world, make_key, api):
    path = f"/data/check-access/experiment/{world.experiment.public_id}"
    assert api(path).status_code == 401
    key = make_key("owner", scopes=(T.WRITE_SCOPE,))
    r = api(path, key)
    assert r.status_code == 200
    # A key that may read no data type can view but export nothing.
    assert r.json() == {
        "status": "success",
        "canView": True,
        "canExport": False,
        "exportRight": "full",
    }


# Export jobs over the API follow the same rights.


@pytest.mark.parametrize(
    ("role", "mode", "status"),
    [
        ("viewer", "aggregate", 403),
        ("aggcollab", "remove", 403),
        ("aggcollab", "aggregate", 202),
        ("collaborator", "keep", 403),
        ("collaborator", "remove", 202),
    ],
)
def test_api_export_jobs_are_capped_by_the_export_right(
    world, make_key, client, role, mode, status, django_capture_on_commit_callbacks
):
    body = {
        "level": "room",
        "experimentId": world.experiment.public_id,
        "roomId": world.room_ref(role),
        "anonymization": mode,
        "format": "csv",
        "dataTypes": ["events"],
    }
    with django_capture_on_commit_callbacks(execute=False):
        r = client.post(
            "/api/v3/exports",
            body,
            content_type="application/json",
            headers={"X-API-Key": make_key(role)},
        )
    assert r.status_code == status, r.content
    if status == 403:
        assert "export right" in r.content.decode()


# The API Keys page says what each key reads.


def keys_page_row(client, world, role: str, key_name: str) -> str:
    from tests.conftest import login_client

    login_client(client, world, role)
    html = client.get("/keys/").content.decode()
    start = html.index(key_name)
    return html[start : html.index("</tr>", start)]


@pytest.mark.parametrize(
    ("role", "reads"),
    [
        ("owner", "records with identifiers"),
        ("collaborator", "records, de-identified"),
        ("aggcollab", "aggregate exports only"),
        ("viewer", "no data (view-only right)"),
    ],
)
def test_the_keys_page_lists_what_each_key_reads(world, client, role, reads):
    create_key(world.user(role), name="reach-check", scopes=T.ALL_SCOPES)
    row = keys_page_row(client, world, role, "reach-check")
    assert world.experiment.public_id in row
    assert f"{reads[0].upper()}{reads[1:]}:" in row  # one line per right: "Records, de-identified:"


def test_the_keys_page_shows_a_revoked_or_restricted_keys_reach(world, client):
    from data_browser.api.keys import revoke_key

    owner = world.user("owner")
    create_key(owner, name="only-solo", scopes=T.ALL_SCOPES, experiments=[world.solo])
    gone, _raw = create_key(owner, name="revoked-one", scopes=T.ALL_SCOPES)
    revoke_key(gone, owner)
    row = keys_page_row(client, world, "owner", "only-solo")
    assert world.solo.public_id in row and world.experiment.public_id not in row
    row = keys_page_row(client, world, "owner", "revoked-one")
    assert "nothing" in row and world.experiment.public_id not in row
