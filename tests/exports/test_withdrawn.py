"""An export a key started reads with the key's power at every read, on a real worker.

A key's power is its scopes ∩ its owner's rights *now*: revoking or expiring the key,
deleting it, removing its owner's membership or lowering their export right while the job
waits or runs ends the job "denied" with a message saying why, and no file.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from data_browser.api import keys
from data_browser.models import ApiKey, ExportRight, Membership
from exports import services
from exports.models import ExportJob, Status
from tests.factories import bulk_events

from .workerproc import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.postgres]


def state(job: ExportJob) -> ExportJob:
    job.refresh_from_db()
    return job


def start(world, key: ApiKey) -> ExportJob:
    return services.start_export(
        key.user,
        level="room",
        experiment_id=world.experiment.public_id,
        room_id=world.room.public_id,
        data_types=["events"],
        fmt="json",
        anonymization="remove",
        key=key,
    )


def revoke(key: ApiKey, membership: Membership) -> None:
    keys.revoke_key(key, key.user)


def expire(key: ApiKey, membership: Membership) -> None:
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))


def delete_key(key: ApiKey, membership: Membership) -> None:
    ApiKey.objects.filter(pk=key.pk).delete()


def remove_membership(key: ApiKey, membership: Membership) -> None:
    Membership.objects.filter(pk=membership.pk).delete()


def lower_right(key: ApiKey, membership: Membership) -> None:
    Membership.objects.filter(pk=membership.pk).update(export_right=ExportRight.AGGREGATE)


WITHDRAWALS: dict[str, tuple[Callable[[ApiKey, Membership], None], str]] = {
    "revoked": (revoke, "API key"),
    "expired": (expire, "API key"),
    "deleted": (delete_key, "API key"),
    "membership removed": (remove_membership, "no longer a member"),
    "right lowered": (lower_right, "Aggregate statistics only"),
}


def test_withdrawn_access_ends_a_running_key_export_denied_without_a_file(
    transactional_db, world, worker
):
    bulk_events(world, 120_000)  # a de-identified JSON of these runs for many seconds
    user = world.user("fullcollab")
    for name, (withdraw, says) in WITHDRAWALS.items():
        membership, _ = Membership.objects.update_or_create(
            user=user,
            experiment=world.experiment,
            defaults={"role": Membership.Role.COLLABORATOR, "export_right": ExportRight.FULL},
        )
        key, _raw = keys.create_key(user, name=f"key {name}", scopes=["read:events"])
        job = start(world, key)
        wait_for(lambda j=job: state(j).status == Status.RUNNING and j.rows_done > 0, timeout=90)
        withdraw(key, membership)
        wait_for(lambda j=job: state(j).is_finished, timeout=15)
        assert job.status == Status.DENIED, (name, job.status, job.error)
        assert "Access withdrawn" in job.error and says in job.error, (name, job.error)
        assert not job.file and not job.is_downloadable, name


def test_a_key_revoked_while_its_export_waits_ends_it_before_any_read(
    transactional_db, world, worker
):
    user = world.user("fullcollab")
    key, _raw = keys.create_key(user, name="queued", scopes=["read:events"])
    with transaction.atomic():  # the task is sent when this commits: after the revocation
        job = start(world, key)
        keys.revoke_key(key, user)
    wait_for(lambda: state(job).is_finished, timeout=60)
    assert job.status == Status.DENIED, (job.status, job.error)
    assert "API key" in job.error
    assert not job.file
