"""Users below the full export right get codes, never identifiers; codes address participants."""

from __future__ import annotations

import re

import pytest

from data_browser import datatypes as T
from data_browser.identity import participant_code, room_code
from data_browser.models import Participant

pytestmark = pytest.mark.django_db

CODED_ROLES = ("collaborator", "aggcollab", "viewer")
# Reading records is exporting: these rights get a 403 (tests/api/test_rights.py), whose
# body must hold no identifier either.
BELOW_ROW_LEVEL = ("aggcollab", "viewer")


def identifiers(world) -> list[str]:
    people = Participant.objects.filter(
        room_participants__room__experiment=world.experiment
    ).distinct()
    found = []
    for p in people:
        found += [p.public_id, p.display_name, p.email, p.ip_address]
    return [s for s in found if s]


@pytest.mark.parametrize("role", CODED_ROLES)
@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_no_identifier_leaks_to_users_who_see_codes(world, make_key, api, role, fmt):
    key = make_key(role)
    secrets = identifiers(world)
    assert len(secrets) > 20
    # Chat says "Hi, I'm Alex!" and variable snapshots hold first names.
    names = {s.split()[0] for s in Participant.objects.values_list("display_name", flat=True)}
    first_names = re.compile(r"\b(?:" + "|".join(map(re.escape, names)) + r")\b")
    for dt in T.DATA_TYPES:
        r = api(
            f"/data/{dt.api_name}/experiment/{world.experiment.public_id}",
            key,
            format=fmt,
            limit=10000,
        )
        assert r.status_code == (403 if role in BELOW_ROW_LEVEL else 200)
        body = b"".join(r.streaming_content) if r.streaming else r.content
        lowered = body.decode().lower()
        leaked = [s for s in secrets if s.lower() in lowered]
        assert not leaked, f"{dt.api_name} leaked {leaked[:3]}"
        named = first_names.findall(body.decode())
        assert not named, f"{dt.api_name} leaked first names {named[:3]}"
        assert b"anon_" in body or dt is T.COMPONENTS or role in BELOW_ROW_LEVEL


def test_codes_are_the_export_codes_and_address_the_participant(world, make_key, api):
    key = make_key("collaborator")
    code = participant_code(world.experiment.public_id, world.participant.public_id)
    room = room_code(world.experiment.public_id, world.room.public_id)
    r = api(f"/data/events/room/{room}", key, limit=10000)
    assert code in {e["participantId"] for e in r.json()["data"]}
    by_code = api(f"/data/events/participant/{code}", key, roomId=room)
    assert by_code.status_code == 200
    data = by_code.json()["data"]
    assert data and {e["participantId"] for e in data} == {code}
    expected = T.EVENTS.model.objects.filter(room=world.room, participant=world.participant)
    assert len(data) == expected.count()
    assert by_code.json()["metadata"]["scopeId"] == code
    # the raw id is not accepted from someone who may not see it
    raw = api(f"/data/events/participant/{world.participant.public_id}", key)
    assert raw.status_code == 404


def test_full_rights_see_identifiers_and_may_use_codes_too(world, make_key, api):
    key = make_key("fullcollab")
    r = api(f"/data/chat/room/{world.room.public_id}", key, limit=10000)
    names = {m["senderName"] for m in r.json()["data"]}
    assert world.participant.display_name in names
    code = participant_code(world.experiment.public_id, world.participant.public_id)
    assert api(f"/data/chat/participant/{code}", key).status_code == 200


def test_coded_recordings_have_no_download_link(world, make_key, api):
    room = room_code(world.experiment.public_id, world.room.public_id)
    r = api(f"/data/recordings/room/{room}", make_key("collaborator"))
    recs = r.json()["data"]
    assert recs and all(
        rec["downloadUrl"] is None and rec["participantName"] is None for rec in recs
    )


def test_participant_and_lab_admin_accounts_read_nothing(world, make_key, api):
    """Keys act through memberships only: a participant account's own sessions and a lab
    admin's lab are dashboard views, not API scopes."""
    for role in ("labadmin", "outsider"):
        r = api(f"/data/events/room/{world.room.public_id}", make_key(role))
        assert r.status_code == 404


def test_participant_accounts_cannot_have_keys(world, make_key):
    from data_browser.api.keys import InvalidKeyRequest

    with pytest.raises(InvalidKeyRequest, match="participant"):
        make_key("participant")


def test_filters_are_echoed_as_the_records_are_shown(world, make_key, api):
    """``metadata.query`` of a coded reader withholds searched text and scrubs labels (a
    name typed into a filter is not echoed); the owner sees what they asked."""
    person = Participant.objects.filter(room_participants__room=world.room).first()
    first = person.display_name.split()[0]
    path = f"/data/chat/experiment/{world.experiment.public_id}"
    asked = {"content": first, "messageType": f"to_{person.public_id}", "onsetFrom": "0"}
    coded = api(path, make_key("collaborator"), **asked).json()["metadata"]["query"]
    assert coded["content"] == "[removed]" and coded["onsetFrom"] == "0"
    assert person.public_id not in coded["messageType"] and first not in str(coded)
    owner = api(path, make_key("owner"), **asked).json()["metadata"]["query"]
    assert {k: owner[k] for k in asked} == asked
