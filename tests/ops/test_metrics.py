"""/metrics: off by default, for the allowed addresses or the bearer token only, and the
numbers a lab watches: request latency by view, API requests by status, ingested records per
type, export jobs by state and duration, the Celery queue length."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from prometheus_client.parser import text_string_to_metric_families

from data_browser.ingest import ingest
from data_browser.models import RoomParticipant
from exports.models import Status
from tests.factories import event_record

pytestmark = pytest.mark.django_db

PROMETHEUS_MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    *django_settings.MIDDLEWARE,
    "hyperstudy_dash.metrics.ApiRequestMetrics",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_ENABLED = True
    settings.MIDDLEWARE = PROMETHEUS_MIDDLEWARE
    settings.METRICS_ALLOWED_ADDRESSES = ["127.0.0.1", "::1"]
    settings.METRICS_TOKEN = ""
    return settings


def scrape(client, **kwargs) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_are_off_by_default(client):
    assert django_settings.METRICS_ENABLED is False
    assert client.get("/metrics").status_code == 404


def test_only_the_allowed_addresses_may_read_them(client, metrics_on):
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    response = client.get("/metrics", REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 403
    assert b"hyperstudy" not in response.content
    metrics_on.METRICS_ALLOWED_ADDRESSES = ["10.0.0.0/8"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.168.1.1").status_code == 403


def test_the_bearer_token_opens_them_from_anywhere(client, metrics_on):
    metrics_on.METRICS_ALLOWED_ADDRESSES = []
    metrics_on.METRICS_TOKEN = "s3cret-scrape-token"
    assert client.get("/metrics").status_code == 403
    wrong = {"HTTP_AUTHORIZATION": "Bearer s3cret-scrape-tokeN"}
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3", **wrong).status_code == 403
    right = {"HTTP_AUTHORIZATION": "Bearer s3cret-scrape-token"}
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3", **right).status_code == 200


def test_request_latency_by_view_and_api_requests_by_status(client, metrics_on):
    before = scrape(client)
    client.get("/healthz")
    client.get("/api/v3/data/events/experiment/exp_research_001")  # no key: 401
    after = scrape(client)
    latency = "django_http_requests_latency_seconds_by_view_method_count"
    assert value(after, latency, view="healthz", method="GET") == (
        value(before, latency, view="healthz", method="GET") + 1
    )
    api = "hyperstudy_api_requests_total"
    assert value(after, api, status="401") == value(before, api, status="401") + 1


def test_ingested_records_by_type_and_outcome(client, metrics_on, world):
    member = RoomParticipant.objects.select_related("room", "participant").filter(room=world.room)[
        0
    ]
    before = scrape(client)
    ingest("events", [event_record(member, "ev_metrics_1"), event_record(member, "ev_metrics_2")])
    ingest("events", [event_record(member, "ev_metrics_1"), {"id": "ev_metrics_bad"}])
    after = scrape(client)
    name = "hyperstudy_ingest_records_total"
    for outcome, added in (("accepted", 2), ("duplicate", 1), ("rejected", 1)):
        labels = {"type": "events", "outcome": outcome}
        assert value(after, name, **labels) == value(before, name, **labels) + added


def test_export_jobs_by_state_and_duration(client, metrics_on, world, export):
    before = scrape(client)
    job = export(level="room", room_id=world.room.public_id, data_types=["events"], fmt="csv")
    assert job.status == Status.SUCCEEDED
    after = scrape(client)
    jobs = "hyperstudy_export_jobs"
    assert value(after, jobs, state="succeeded") == value(before, jobs, state="succeeded") + 1
    assert value(after, jobs, state="queued") == value(before, jobs, state="queued")
    count = "hyperstudy_export_job_duration_seconds_count"
    assert value(after, count, state="succeeded") == value(before, count, state="succeeded") + 1
    inf = "hyperstudy_export_job_duration_seconds_bucket"
    assert value(after, inf, state="succeeded", le="+Inf") == value(after, count, state="succeeded")


def test_the_celery_queue_length(client, metrics_on):
    samples = scrape(client)
    assert ("hyperstudy_celery_queue_length", (("queue", "celery"),)) in samples
