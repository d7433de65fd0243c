"""Retention dates, the retention run (frozen date, run twice), archive, complete, restore."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from data_browser import datatypes as T
from data_browser.governance import retention
from data_browser.governance.rules import GovernanceError
from data_browser.governance.tasks import run_retention as retention_task
from data_browser.ingest import ingest
from data_browser.models import AuditEntry, Experiment, Room

pytestmark = pytest.mark.django_db

FROZEN = date(2031, 5, 1)


def counts(exp):
    return {dt.key: dt.model.objects.filter(experiment=exp).count() for dt in T.DATA_TYPES}


def test_a_date_in_the_past_is_refused_and_nothing_changes(client, world):
    client.force_login(world.user("owner"))
    url = reverse("data_browser:retention", args=[world.experiment.public_id])
    yesterday = timezone.localdate() - timedelta(days=1)
    response = client.post(url, {"retention_until": yesterday.isoformat()})
    assert response.status_code == 400
    assert "in the past" in response.content.decode()
    world.experiment.refresh_from_db()
    assert world.experiment.retention_until is None
    assert not AuditEntry.objects.filter(action="retention.set").exists()
    with pytest.raises(GovernanceError):
        retention.set_retention(
            world.user("owner"), world.experiment, date(2020, 1, 1), today=FROZEN
        )


def test_owners_set_and_clear_the_date(client, world):
    client.force_login(world.user("owner"))
    url = reverse("data_browser:retention", args=[world.experiment.public_id])
    later = timezone.localdate() + timedelta(days=30)
    assert client.post(url, {"retention_until": later.isoformat()}).status_code == 302
    world.experiment.refresh_from_db()
    assert world.experiment.retention_until == later
    assert client.post(url, {"retention_until": ""}).status_code == 302
    world.experiment.refresh_from_db()
    assert world.experiment.retention_until is None
    assert AuditEntry.objects.filter(action="retention.set").count() == 2


@pytest.mark.parametrize(
    ("role", "status"), [("fullcollab", 403), ("labadmin", 403), ("outsider", 404)]
)
def test_only_owners_set_the_date(client, world, role, status):
    client.force_login(world.user(role))
    url = reverse("data_browser:retention", args=[world.experiment.public_id])
    later = timezone.localdate() + timedelta(days=30)
    assert client.post(url, {"retention_until": later.isoformat()}).status_code == status
    world.experiment.refresh_from_db()
    assert world.experiment.retention_until is None


def test_the_run_deletes_what_is_past_its_date_and_a_second_run_changes_nothing(
    world, private_media
):
    Experiment.objects.filter(pk=world.solo.pk).update(retention_until=FROZEN - timedelta(days=1))
    Experiment.objects.filter(pk=world.experiment.pk).update(retention_until=FROZEN)
    kept = counts(world.experiment)
    solo_before = counts(world.solo)
    assert sum(solo_before.values()) > 0

    first = retention.run_retention(today=FROZEN)
    assert set(first.deleted) == {world.solo.public_id}
    assert first.deleted[world.solo.public_id].counts == solo_before
    assert counts(world.solo) == dict.fromkeys(T.BY_KEY, 0)
    assert not Room.objects.filter(experiment=world.solo).exists()
    assert counts(world.experiment) == kept  # its date is today: not yet past
    world.solo.refresh_from_db()
    assert world.solo.status == Experiment.Status.COMPLETED
    entry = AuditEntry.objects.filter(action="data.deleted", experiment=world.solo).get()
    assert entry.details["reason"] == "retention" and entry.rows == sum(solo_before.values())
    run_entry = AuditEntry.objects.filter(action="retention.run").latest("id")
    assert run_entry.details["deleted"] == {world.solo.public_id: solo_before}

    state = (counts(world.solo), counts(world.experiment), world.solo.status)
    second = retention.run_retention(today=FROZEN)
    assert second.deleted == {} and second.records == 0
    world.solo.refresh_from_db()
    assert (counts(world.solo), counts(world.experiment), world.solo.status) == state
    assert AuditEntry.objects.filter(action="data.deleted", experiment=world.solo).count() == 1
    assert AuditEntry.objects.filter(action="retention.run").latest("id").rows == 0


def test_the_command_and_the_beat_task_run_the_same_job(world, private_media, capsys):
    Experiment.objects.filter(pk=world.solo.pk).update(
        retention_until=timezone.localdate() - timedelta(days=3)
    )
    before = sum(counts(world.solo).values())
    assert retention_task() == {world.solo.public_id: before}
    assert counts(world.solo) == dict.fromkeys(T.BY_KEY, 0)
    call_command("run_retention")
    assert "nothing past its deletion date" in capsys.readouterr().out
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["governance-retention"]
    assert entry["task"] == retention_task.name


def test_the_command_rejects_a_malformed_date(world):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("run_retention", "--today", "tomorrow")


def status_url(world, exp=None):
    return reverse("data_browser:experiment_status", args=[(exp or world.experiment).public_id])


def test_archive_is_read_only_and_restores_to_what_it_was(client, world):
    client.force_login(world.user("owner"))
    assert client.post(status_url(world), {"action": "complete"}).status_code == 302
    assert client.post(status_url(world), {"action": "archive"}).status_code == 302
    world.experiment.refresh_from_db()
    assert world.experiment.status == "archived"
    assert world.experiment.status_before_archive == "completed"
    record = {
        "id": "event_after_archive",
        "timestamp": "2024-10-20T14:40:00.000Z",
        "sessionId": world.room.public_id,
        "participantId": world.participant.public_id,
        "eventType": "late.event",
    }
    result = ingest("events", [record])
    assert result.accepted == 0
    assert "archived and accepts no new data" in result.errors[0].errors[0]
    again = client.post(status_url(world), {"action": "archive"})
    assert again.status_code == 400 and "already archived" in again.content.decode()
    assert client.post(status_url(world), {"action": "restore"}).status_code == 302
    world.experiment.refresh_from_db()
    assert (world.experiment.status, world.experiment.status_before_archive) == ("completed", "")
    actions = list(
        AuditEntry.objects.filter(experiment=world.experiment, action__startswith="experiment.")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["experiment.completed", "experiment.archived", "experiment.restored"]


def test_a_completed_experiment_accepts_no_new_data(client, world):
    client.force_login(world.user("owner"))
    assert client.post(status_url(world), {"action": "complete"}).status_code == 302
    record = {
        "id": "event_after_completion",
        "timestamp": "2024-10-20T14:40:00.000Z",
        "sessionId": world.room.public_id,
        "participantId": world.participant.public_id,
        "eventType": "late.event",
    }
    result = ingest("events", [record])
    assert result.accepted == 0
    assert "completed and accepts no new data" in result.errors[0].errors[0]
    response = client.post(status_url(world), {"action": "complete"})
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("role", "status"),
    [("fullcollab", 403), ("labadmin", 403), ("outsider", 404), ("participant", 404)],
)
def test_only_owners_archive(client, world, role, status):
    client.force_login(world.user(role))
    assert client.post(status_url(world), {"action": "archive"}).status_code == status
    world.experiment.refresh_from_db()
    assert world.experiment.status == "active"
