"""The experiment overview: rooms and participants by status, records per type, the latest
data, the retention date with what it will delete, and the reader's recent exports."""

from __future__ import annotations

import re
from datetime import timedelta

from django.utils import timezone

from data_browser import access
from data_browser import datatypes as T
from data_browser.models import Room, RoomParticipant
from exports.models import ExportJob
from tests.conftest import login_client


def overview(client, world) -> str:
    response = client.get(f"/e/{world.experiment.public_id}/overview/")
    assert response.status_code == 200
    return response.content.decode()


def section(body: str, name: str) -> str:
    return re.search(rf'data-overview="{name}">(.*?)</section>', body, re.S).group(1)


def test_it_counts_rooms_participants_and_records(client, world):
    login_client(client, world, "owner")
    body = overview(client, world)
    rooms = Room.objects.filter(experiment=world.experiment)
    assert f'<div class="big">{rooms.count():,}</div>' in section(body, "rooms")
    people = RoomParticipant.objects.filter(room__experiment=world.experiment)
    done = people.filter(status="completed").count()
    assert re.search(
        rf'Completed</span></span><span class="num">{done:,}<', section(body, "participants")
    )
    records = section(body, "records")
    for dt in T.DATA_TYPES:
        n = (
            access.for_user(world.user("owner"))
            .records(dt)
            .filter(experiment=world.experiment)
            .count()
        )
        assert re.search(rf"{dt.label}</a><span class=\"num\">{n:,}</span>", records)
    newest = (
        access.for_user(world.user("owner"))
        .records(T.CHAT)
        .filter(experiment=world.experiment)
        .latest("timestamp")
        .timestamp
    )
    assert newest.strftime("%Y-%m-%d") in section(body, "arrival")


def test_it_says_what_the_retention_date_will_delete(client, world):
    world.experiment.retention_until = timezone.now().date() + timedelta(days=30)
    world.experiment.save(update_fields=["retention_until"])
    login_client(client, world, "owner")
    retention = section(overview(client, world), "retention")
    total = sum(dt.model.objects.filter(experiment=world.experiment).count() for dt in T.DATA_TYPES)
    assert world.experiment.retention_until.isoformat() in retention
    assert f"<strong>{total:,}</strong> records" in retention


def test_it_lists_the_readers_recent_exports_only(client, world):
    ExportJob.objects.create(
        user=world.user("owner"),
        level="experiment",
        experiment=world.experiment,
        fmt="csv",
        anonymization="keep",
        fingerprint="overview-test",
    )
    login_client(client, world, "viewer")
    assert "None yet" in section(overview(client, world), "exports")
    login_client(client, world, "owner")
    assert "status-" in section(overview(client, world), "exports")


def test_a_participant_account_sees_no_retention_counts(client, world):
    world.experiment.retention_until = timezone.now().date() + timedelta(days=30)
    world.experiment.save(update_fields=["retention_until"])
    login_client(client, world, "participant")
    body = overview(client, world)
    assert "records and" not in section(body, "retention")
    assert "/access/" not in section(body, "retention")
