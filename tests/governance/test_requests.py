"""Participants' rights end to end: request a copy → approved → download; request deletion →
approved → gone from browse, API and exports. Owners decide once."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.urls import reverse

from data_browser import access
from data_browser import datatypes as T
from data_browser.api.keys import create_key
from data_browser.identity import participant_code
from data_browser.models import AuditEntry, DataRequest, RoomParticipant
from exports.models import ExportJob

pytestmark = pytest.mark.django_db

MY_DATA = reverse("data_browser:my_data")
ASK = reverse("data_browser:my_data_request")


def decide_url(world, dr):
    return reverse("data_browser:request_decide", args=[world.experiment.public_id, dr.pk])


def ask(client, world, kind):
    client.force_login(world.user("participant"))
    response = client.post(ASK, {"experiment": world.experiment.public_id, "kind": kind})
    assert response.status_code == 302
    return DataRequest.objects.filter(participant=world.participant, kind=kind).latest("id")


def test_a_participant_gets_a_copy_of_their_own_data(
    client, world, eager, django_capture_on_commit_callbacks, private_media
):
    dr = ask(client, world, "access")
    assert dr.status == "pending"
    client.force_login(world.user("owner"))
    panel = client.get(reverse("data_browser:experiment_access", args=[world.experiment.public_id]))
    assert world.participant.public_id in panel.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(decide_url(world, dr), {"decision": "approve", "note": "Here it is"})
    assert response.status_code == 302
    dr.refresh_from_db()
    assert dr.status == "approved" and dr.decided_by == world.user("owner")
    job = ExportJob.objects.get(data_request=dr)
    assert job.user == world.user("participant") and job.status == "succeeded"

    client.force_login(world.user("participant"))
    page = client.get(MY_DATA).content.decode()
    assert "Approved" in page and "Here it is" in page
    download = reverse("exports:download", args=[job.public_id])
    assert download in page
    response = client.get(download)
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    archive = zipfile.ZipFile(io.BytesIO(body))
    text = "\n".join(
        archive.read(n).decode("utf-8", "replace")
        for n in archive.namelist()
        if not n.endswith("/")
    )
    me = world.participant.public_id
    assert me in text
    others = RoomParticipant.objects.filter(room=world.room).exclude(participant=world.participant)
    for rp in others:
        assert rp.participant.public_id not in text
        assert rp.participant.email not in text
    # The owner cannot download the participant's copy.
    client.force_login(world.user("owner"))
    assert client.get(download).status_code == 404
    assert AuditEntry.objects.filter(action="data_request.approved").exists()


def test_a_participant_has_their_data_deleted(
    client, world, eager, django_capture_on_commit_callbacks, private_media
):
    me = world.participant.public_id
    _key, raw = create_key(world.user("owner"), name="k", scopes=list(T.READ_SCOPES))
    api_url = f"/api/v3/data/events/participant/{me}"
    assert client.get(api_url, headers={"X-API-Key": raw}).status_code == 200
    dr = ask(client, world, "deletion")
    client.force_login(world.user("owner"))
    # Approving first shows what will go, and deletes nothing yet.
    confirm = client.post(decide_url(world, dr), {"decision": "approve", "note": "Done"})
    assert confirm.status_code == 200
    page = confirm.content.decode()
    assert "Approve and delete permanently" in page and 'name="confirmed" value="1"' in page
    events = (
        access.for_user(world.user("owner"))
        .records(T.EVENTS)
        .filter(experiment=world.experiment, participant__public_id=me)
    )
    assert f'<td class="num">{events.count():,}</td>' in page
    dr.refresh_from_db()
    assert dr.status == "pending" and events.exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            decide_url(world, dr), {"decision": "approve", "note": "Done", "confirmed": "1"}
        )
    assert response.status_code == 302
    dr.refresh_from_db()
    assert dr.status == "approved"
    owner = world.user("owner")
    for dt in T.DATA_TYPES:
        assert not access.for_user(owner).records(dt).filter(participant__public_id=me).exists()
    assert client.get(api_url, headers={"X-API-Key": raw}).status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        from exports.services import start_export

        job = start_export(
            owner, level="experiment", experiment_id=world.experiment.public_id, fmt="json"
        )
    job.refresh_from_db()
    with job.file.open("rb") as fh:
        data = fh.read()
    assert job.status == "succeeded" and me.encode() not in data
    entry = AuditEntry.objects.filter(action="data.deleted").latest("id")
    assert entry.details["reason"] == f"participant request {dr.pk}"
    assert participant_code(world.experiment.public_id, me) in entry.scope
    # The participant sees the outcome (their account and the request survive).
    client.force_login(world.user("participant"))
    page = client.get(MY_DATA)
    assert page.status_code == 200
    assert "Request deletion" in page.content.decode() and "Approved" in page.content.decode()


def test_a_request_is_decided_only_once(client, world):
    dr = ask(client, world, "deletion")
    client.force_login(world.user("owner"))
    assert client.post(decide_url(world, dr), {"decision": "decline"}).status_code == 302
    before = AuditEntry.objects.count()
    response = client.post(decide_url(world, dr), {"decision": "approve"})
    assert response.status_code == 400
    assert "already declined" in response.content.decode()
    dr.refresh_from_db()
    assert dr.status == "declined"
    assert AuditEntry.objects.count() == before
    assert (
        access.for_user(world.user("owner")).records(T.EVENTS).filter(participant=world.participant)
    )


def test_a_participant_cannot_ask_twice_or_where_requests_are_off(client, world):
    ask(client, world, "access")
    response = client.post(ASK, {"experiment": world.experiment.public_id, "kind": "access"})
    assert response.status_code == 400
    assert "already have a pending request" in response.content.decode()
    world.experiment.allow_participant_requests = False
    world.experiment.save()
    response = client.post(ASK, {"experiment": world.experiment.public_id, "kind": "deletion"})
    assert response.status_code == 400
    assert "does not take requests" in response.content.decode()
    response = client.post(ASK, {"experiment": world.experiment.public_id, "kind": "everything"})
    assert response.status_code == 400


def test_a_participant_cannot_ask_about_an_experiment_they_were_not_in(client, world):
    client.force_login(world.user("participant"))
    response = client.post(ASK, {"experiment": world.other.public_id, "kind": "access"})
    assert response.status_code == 404
    assert not DataRequest.objects.filter(experiment=world.other).exists()


@pytest.mark.parametrize(
    ("role", "status"),
    [("collaborator", 403), ("labadmin", 403), ("outsider", 404), ("participant", 404)],
)
def test_only_owners_decide(client, world, role, status):
    dr = ask(client, world, "deletion")
    client.force_login(world.user(role))
    assert client.post(decide_url(world, dr), {"decision": "approve"}).status_code == status
    dr.refresh_from_db()
    assert dr.status == "pending"


def test_researchers_have_no_my_data_page(client, world):
    client.force_login(world.user("owner"))
    assert client.get(MY_DATA).status_code == 404
    assert (
        client.post(ASK, {"experiment": world.experiment.public_id, "kind": "access"}).status_code
        == 404
    )


def approved_access(world):
    return DataRequest.objects.create(
        participant=world.participant,
        experiment=world.experiment,
        kind="access",
        status="approved",
        requested_by=world.user("participant"),
    )


def test_a_participant_prepares_a_fresh_copy(
    client, world, eager, django_capture_on_commit_callbacks, private_media
):
    dr = approved_access(world)
    client.force_login(world.user("participant"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("data_browser:my_data_export", args=[dr.pk]))
    job = ExportJob.objects.get(data_request=dr)
    assert response.status_code == 302
    assert response.url == reverse("exports:detail", args=[job.public_id])
    assert job.user == world.user("participant") and job.status == "succeeded"
    page = client.get(MY_DATA).content.decode()
    assert reverse("exports:download", args=[job.public_id]) in page


def test_without_exports_a_copy_is_refused_with_a_message(client, world):
    """The data browser asks for the copy through a signal; nobody answering is a 400."""
    from data_browser.signals import own_copy_requested
    from exports.receivers import prepare_own_copy

    dr = approved_access(world)
    client.force_login(world.user("participant"))
    own_copy_requested.disconnect(dispatch_uid="exports.prepare_own_copy")
    try:
        response = client.post(reverse("data_browser:my_data_export", args=[dr.pk]))
    finally:
        own_copy_requested.connect(prepare_own_copy, dispatch_uid="exports.prepare_own_copy")
    assert response.status_code == 400
    assert "exports are not installed" in response.content.decode()
    assert not ExportJob.objects.exists()
