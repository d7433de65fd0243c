"""Deletion by owners: a confirmation that names what goes, then records, files and exports
gone at once, an audit entry without identifiers, and a clear message the second time."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from data_browser import access
from data_browser import datatypes as T
from data_browser.api.keys import create_key
from data_browser.identity import participant_code
from data_browser.models import (
    AuditEntry,
    ChatMessage,
    Participant,
    Recording,
    Room,
    RoomParticipant,
)
from exports import services as exports
from exports.models import ExportJob

pytestmark = pytest.mark.django_db


def counts(**filters):
    return {dt.key: dt.model.objects.filter(**filters).count() for dt in T.DATA_TYPES}


def other_participant(world):
    """A participant of the demo experiment other than the participant account's identity."""
    return (
        RoomParticipant.objects.filter(room=world.room)
        .exclude(participant=world.participant)
        .select_related("participant")[0]
        .participant
    )


CONFIRMED = {"confirmed": "1"}  # the confirmation page's own POST


def shown(response) -> dict[str, int]:
    """The counts per data type the confirmation page shows."""
    rows = dict(response.context["confirm"].rows)
    return {dt.key: rows[dt.label] for dt in T.DATA_TYPES}


def delete_url(world, participant):
    return reverse(
        "data_browser:delete_participant",
        args=[world.experiment.public_id, participant.public_id],
    )


def test_it_names_what_will_go_before_deleting(client, world):
    target = other_participant(world)
    client.force_login(world.user("owner"))
    response = client.get(delete_url(world, target))
    assert response.status_code == 200
    expected = counts(experiment=world.experiment, participant=target)
    assert sum(expected.values()) > 0
    assert shown(response) == expected
    body = response.content.decode()
    for dt in T.DATA_TYPES:
        assert f'<td>{dt.label}</td><td class="num">{expected[dt.key]:,}</td>' in body
    assert counts(experiment=world.experiment, participant=target) == expected  # nothing gone


def test_it_deletes_a_participant_everywhere_at_once(
    client, world, private_media, eager, django_capture_on_commit_callbacks
):
    target = other_participant(world)
    pid = target.public_id
    files = list(
        Recording.objects.filter(participant=target).exclude(file="").values_list("file", flat=True)
    )
    assert files and all(default_storage.exists(f) for f in files)
    untouched = counts(experiment=world.experiment, participant=world.participant)
    with django_capture_on_commit_callbacks(execute=True):
        job = exports.start_export(
            world.user("owner"),
            level="room",
            experiment_id=world.experiment.public_id,
            room_id=world.room.public_id,
            fmt="csv",
        )
    job.refresh_from_db()
    assert job.status == "succeeded" and default_storage.exists(job.file.name)
    _key, raw = create_key(world.user("owner"), name="k", scopes=list(T.READ_SCOPES))
    api_url = f"/api/v3/data/events/participant/{pid}"
    assert client.get(api_url, headers={"X-API-Key": raw}).status_code == 200

    client.force_login(world.user("owner"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(delete_url(world, target), CONFIRMED)
    assert response.status_code == 302

    assert counts(participant=target, experiment=world.experiment) == dict.fromkeys(T.BY_KEY, 0)
    owner = world.user("owner")
    for dt in T.DATA_TYPES:
        assert not access.for_user(owner).records(dt).filter(participant__public_id=pid).exists()
    assert not any(default_storage.exists(f) for f in files)
    assert not ExportJob.objects.filter(pk=job.pk).exists()
    assert not default_storage.exists(job.file.name)
    assert client.get(api_url, headers={"X-API-Key": raw}).status_code == 404
    assert counts(experiment=world.experiment, participant=world.participant) == untouched
    assert not ChatMessage.objects.filter(recipient_ids__icontains=pid).exists()
    assert not RoomParticipant.objects.filter(participant__public_id=pid).exists()
    assert not Participant.objects.filter(public_id=pid).exists()

    entry = AuditEntry.objects.filter(action="data.deleted").latest("id")
    code = participant_code(world.experiment.public_id, pid)
    assert entry.scope == f"participant {code} in {world.experiment.public_id}"
    assert pid not in str(entry.details) and pid not in entry.scope
    assert entry.rows == sum(entry.details["records"].values()) > 0
    assert entry.details["exports"] == 1 and entry.details["files"] == len(files)


def test_it_says_so_when_the_data_is_already_deleted(client, world, private_media):
    target = other_participant(world)
    client.force_login(world.user("owner"))
    assert client.post(delete_url(world, target), CONFIRMED).status_code == 302
    before = AuditEntry.objects.count()
    for method in (client.get, client.post):
        response = method(delete_url(world, target))
        assert response.status_code == 400
        assert "already deleted" in response.content.decode()
    assert AuditEntry.objects.count() == before


def test_it_deletes_a_room_and_only_that_room(client, world, private_media):
    other_rooms = counts(experiment=world.experiment)
    in_room = counts(room=world.room)
    url = reverse(
        "data_browser:delete_room", args=[world.experiment.public_id, world.room.public_id]
    )
    client.force_login(world.user("owner"))
    assert shown(client.get(url)) == in_room
    assert client.post(url, CONFIRMED).status_code == 302
    assert not Room.objects.filter(pk=world.room.pk).exists()
    assert counts(experiment=world.experiment) == {
        k: other_rooms[k] - in_room[k] for k in other_rooms
    }
    again = client.post(url, CONFIRMED)
    assert again.status_code == 400
    assert "already deleted" in again.content.decode()


def test_it_deletes_a_whole_experiment_and_keeps_the_experiment(client, world, private_media):
    url = reverse("data_browser:delete_experiment_data", args=[world.solo.public_id])
    client.force_login(world.user("owner"))
    assert client.post(url, CONFIRMED).status_code == 302
    assert counts(experiment=world.solo) == dict.fromkeys(T.BY_KEY, 0)
    assert not Room.objects.filter(experiment=world.solo).exists()
    assert counts(experiment=world.experiment)["events"] > 0
    world.solo.refresh_from_db()
    unconfirmed = client.post(url)  # the confirmation says so, and offers no button
    assert unconfirmed.status_code == 200 and "nothing left to delete" in unconfirmed.text
    assert "Delete permanently" not in unconfirmed.text
    response = client.post(url, CONFIRMED)
    assert response.status_code == 400
    assert "nothing left to delete" in response.content.decode()


def test_a_post_without_the_confirmation_deletes_nothing_and_shows_the_counts(client, world):
    target = other_participant(world)
    before = counts(experiment=world.experiment, participant=target)
    client.force_login(world.user("owner"))
    response = client.post(delete_url(world, target))
    assert response.status_code == 200
    assert shown(response) == before
    assert 'name="confirmed" value="1"' in response.text and "Delete permanently" in response.text
    assert counts(experiment=world.experiment, participant=target) == before


def test_a_get_never_deletes(client, world):
    target = other_participant(world)
    before = counts(participant=target)
    client.force_login(world.user("owner"))
    client.get(delete_url(world, target))
    client.get(reverse("data_browser:delete_experiment_data", args=[world.experiment.public_id]))
    assert counts(participant=target) == before


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("collaborator", 403),
        ("fullcollab", 403),
        ("labadmin", 403),
        ("outsider", 404),
        ("participant", 404),
    ],
)
def test_only_owners_delete(client, world, role, status):
    target = other_participant(world)
    before = counts(participant=target)
    client.force_login(world.user(role))
    assert client.post(delete_url(world, target)).status_code == status
    url = reverse("data_browser:delete_experiment_data", args=[world.experiment.public_id])
    assert client.post(url).status_code == status
    assert counts(participant=target) == before


def test_an_owner_cannot_delete_a_participant_of_another_experiment(client, world):
    target = other_participant(world)
    client.force_login(world.user("owner"))
    url = reverse("data_browser:delete_participant", args=[world.solo.public_id, target.public_id])
    assert client.post(url).status_code == 404
