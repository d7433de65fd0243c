"""Redis down when an export is requested: a clear message and no job stuck in "queued"."""

from __future__ import annotations

import pytest
from django.urls import reverse

from data_browser.models import DataRequest
from exports.models import ExportJob, Status


@pytest.fixture
def broker_down():
    from hyperstudy_dash.celery import app

    before = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    _forget_connections(app)
    yield
    app.conf.broker_url = before
    _forget_connections(app)


def _forget_connections(app) -> None:
    """Drop pooled broker connections so the next send connects to the configured URL."""
    from kombu import pools

    pools.reset()  # kombu's shared pools would keep handing out the closed connections
    app._pool = None
    app.amqp._producer_pool = None


def test_the_dialog_says_the_export_could_not_start(transactional_db, world, client, broker_down):
    client.force_login(world.user("owner"))
    response = client.post(
        reverse("exports:new"),
        {
            "level": "room",
            "experiment": world.experiment.public_id,
            "room": world.room.public_id,
            "fmt": "zip",
            "anonymization": "keep",
            "data_types": ["events"],
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 503
    assert "not reachable" in response.content.decode()
    job = ExportJob.objects.get()
    assert job.status == Status.FAILED
    assert not ExportJob.objects.filter(status__in=[Status.QUEUED, Status.RUNNING]).exists()


def test_a_participants_fresh_copy_says_it_could_not_start(
    transactional_db, world, client, broker_down
):
    dr = DataRequest.objects.create(
        participant=world.participant,
        experiment=world.experiment,
        kind="access",
        status="approved",
        requested_by=world.user("participant"),
    )
    client.force_login(world.user("participant"))
    response = client.post(reverse("data_browser:my_data_export", args=[dr.pk]))
    assert response.status_code == 400
    assert "not reachable" in response.content.decode()
    assert ExportJob.objects.get(data_request=dr).status == Status.FAILED
