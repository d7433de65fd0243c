"""Issue 13, item 6: every Content-Disposition the product sends comes from one builder
(RFC 6266: an ASCII fallback plus ``filename*=UTF-8''…``), whatever the name holds."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from data_browser.api.keys import create_key
from data_browser.downloads import content_disposition
from data_browser.media import signed_path
from data_browser.models import Experiment, Membership, Recording, Room

# What a client may receive: one line, a quoted ASCII name without quotes, backslashes or
# semicolons, and the real name percent-encoded.
SAFE = re.compile(
    r"^attachment; filename=\"[A-Za-z0-9._-]+\"; filename\*=UTF-8''[A-Za-z0-9%._~-]+$"
)

NASTY = [
    'exp_ödd "q";name=evil.exe.csv',
    "a\r\nSet-Cookie: x=1.csv",
    "../../etc/passwd",
    "..\\windows\\system32.zip",
    "résumé 😀.zip",
    '";',
    "\x00\x7f",
    "",
]


def real_name(header: str) -> str:
    return unquote(header.split("filename*=UTF-8''", 1)[1])


@pytest.mark.parametrize("name", NASTY)
def test_every_name_gives_a_safe_header(name):
    header = content_disposition(name)
    assert SAFE.match(header), header
    decoded = real_name(header)
    assert not set(decoded) & {"/", "\\", "\r", "\n", "\x00"}
    assert decoded.strip(" .")  # never empty or a hidden file


def test_the_real_name_survives_where_it_is_harmless():
    header = content_disposition("résumé 😀.zip")
    assert real_name(header) == "résumé 😀.zip"
    assert 'filename="resume_.zip"' in header
    assert content_disposition("events.csv") == (
        "attachment; filename=\"events.csv\"; filename*=UTF-8''events.csv"
    )


@pytest.mark.django_db
def test_the_api_csv_of_an_experiment_with_a_hostile_id(client, world):
    """The repro: an experiment id with a quote, a semicolon and a fake extension."""
    hostile = 'exp_ödd "q";name=evil.exe'
    experiment = Experiment.objects.create(public_id=hostile, lab=world.lab, name="Hostile")
    Room.objects.create(
        public_id="room_hostile", experiment=experiment, started_at=world.room.started_at
    )
    Membership.objects.create(
        user=world.user("owner"), experiment=experiment, role=Membership.Role.OWNER
    )
    _key, raw = create_key(world.user("owner"), name="hostile", scopes=["read:events"])
    response = client.get(
        f"/api/v3/data/events/experiment/{quote(hostile, safe='')}",
        {"format": "csv"},
        headers={"X-API-Key": raw},
    )
    assert response.status_code == 200
    header = response["Content-Disposition"]
    assert SAFE.match(header), header
    assert real_name(header) == f"events_experiment_{hostile}.csv"
    assert 'filename="events_experiment_exp_odd_q_name_evil.exe.csv";' in header


@pytest.mark.django_db
def test_an_export_download_with_a_hostile_file_name(client, world):
    from tests.factories import finished_export

    job = finished_export(
        world, file_name='x";\r\n../evil.csv', stored="hostile.csv", fingerprint="hostile-name"
    )
    client.force_login(world.user("owner"))
    response = client.get(f"/exports/{job.public_id}/download/")
    assert response.status_code == 200
    assert SAFE.match(response["Content-Disposition"]), response["Content-Disposition"]
    assert b"".join(response.streaming_content) == b"id\n1\n"


@pytest.mark.django_db
def test_a_recording_whose_record_id_is_hostile(client, world):
    recording = Recording.objects.filter(room=world.room).exclude(file="").first()
    Recording.objects.filter(pk=recording.pk).update(record_id='rec";\r\n/../ä', format="mp4")
    if not default_storage.exists(recording.file.name):
        default_storage.save(recording.file.name, ContentFile(b"media"))
    response = client.get(signed_path(recording.file.name))
    assert response.status_code == 200
    header = response["Content-Disposition"]
    assert SAFE.match(header), header
    assert real_name(header) == 'rec";_.._ä.mp4'


@pytest.mark.django_db
def test_the_audit_log_csv_goes_through_the_same_builder(client, world):
    client.force_login(world.user("owner"))
    response = client.get("/audit/export.csv")
    assert response.status_code == 200
    assert SAFE.match(response["Content-Disposition"])
