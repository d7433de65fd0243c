"""Export jobs over the API: the dashboard's jobs, rights and files, driven with a key."""

from __future__ import annotations

import csv
import io
import time
import zipfile

import pytest
from django.test import Client
from django.urls import reverse

from exports import services
from exports.models import ExportJob, Status
from tests.exports.conftest import eager, worker  # noqa: F401  (fixtures)


@pytest.fixture
def call(client):
    def send(method: str, path: str, key: str, body=None, **extra):
        kwargs = {"headers": {"X-API-Key": key}}
        if body is not None:
            kwargs.update(data=body, content_type="application/json")
        return getattr(client, method)(f"/api/v3{path}", **kwargs, **extra)

    return send


def download(url: str) -> bytes:
    r = Client().get(url.removeprefix("http://testserver"))
    assert r.status_code == 200
    return b"".join(r.streaming_content) if r.streaming else r.content


@pytest.mark.django_db
@pytest.mark.usefixtures("eager")
def test_an_export_runs_and_downloads_with_a_signed_link(
    world, make_key, call, django_capture_on_commit_callbacks
):
    key = make_key()
    body = {
        "level": "room",
        "experimentId": world.experiment.public_id,
        "roomId": world.room.public_id,
        "dataTypes": ["events", "ratings/continuous"],
        "format": "zip",
    }
    with django_capture_on_commit_callbacks(execute=True):
        r = call("post", "/exports", key, body)
    assert r.status_code == 202, r.content
    job = r.json()
    assert r["Location"].endswith(f"/api/v3/exports/{job['id']}")
    assert job["dataTypes"] == ["events", "ratings/continuous"]

    r = call("get", f"/exports/{job['id']}", key)
    done = r.json()
    assert done["state"] == "succeeded" and done["progress"] == 100
    archive = zipfile.ZipFile(io.BytesIO(download(done["downloadUrl"])))
    names = archive.namelist()
    assert "metadata.json" in names and any(n.endswith("events.csv") for n in names)

    assert call("delete", f"/exports/{job['id']}", key).status_code == 204
    assert call("get", f"/exports/{job['id']}", key).status_code == 404


@pytest.mark.django_db
def test_rights_and_scopes_cap_what_can_be_exported(world, make_key, call):
    base = {"level": "experiment", "experimentId": world.experiment.public_id, "format": "csv"}
    r = call("post", "/exports", make_key("collaborator"), {**base, "anonymization": "keep"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"
    r = call("post", "/exports", make_key("viewer"), {**base, "anonymization": "remove"})
    assert r.status_code == 403
    r = call("post", "/exports", make_key("collaborator"), {**base, "anonymization": "remove"})
    assert r.status_code == 202
    key = make_key(scopes=("read:chat",))
    r = call("post", "/exports", key, {**base, "dataTypes": ["events"]})
    assert r.status_code == 403
    r = call("post", "/exports", key, base)
    assert r.status_code == 202 and r.json()["dataTypes"] == ["chat"]
    r = call("post", "/exports", make_key("outsider"), base)
    assert r.status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body,needle",
    [
        ({"level": "galaxy", "experimentId": "exp_research_001"}, "level"),
        ({"level": "room"}, "experimentId"),
        ({"level": "room", "experimentId": "exp_research_001"}, "room"),
        ({"level": "experiment", "experimentId": "exp_research_001", "format": "xls"}, "format"),
        (
            {"level": "experiment", "experimentId": "exp_research_001", "dataTypes": ["videos"]},
            "videos",
        ),
    ],
)
def test_bad_export_requests_are_400(world, make_key, call, body, needle):
    r = call("post", "/exports", make_key(), body)
    assert r.status_code == 400 and needle in r.json()["error"]["message"], r.content


@pytest.mark.django_db
def test_a_queued_export_is_cancelled_and_others_jobs_are_404(world, make_key, call):
    key = make_key()
    r = call(
        "post",
        "/exports",
        key,
        {"level": "experiment", "experimentId": world.experiment.public_id},
    )
    job_id = r.json()["id"]
    assert r.json()["state"] == "queued"
    assert call("get", f"/exports/{job_id}", make_key("fullcollab")).status_code == 404
    restricted = make_key(experiments=[world.solo])
    assert call("get", f"/exports/{job_id}", restricted).status_code == 404
    assert call("get", "/exports/not-a-uuid", key).status_code == 404
    r = call("delete", f"/exports/{job_id}", key)
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    assert ExportJob.objects.get(public_id=job_id).status == "cancelled"


@pytest.mark.worker
@pytest.mark.postgres
@pytest.mark.usefixtures("worker")
def test_an_export_runs_on_a_real_worker(world, make_key, call):
    key = make_key()
    r = call(
        "post",
        "/exports",
        key,
        {
            "level": "participant",
            "experimentId": world.experiment.public_id,
            "roomId": world.room.public_id,
            "participantId": world.participant.public_id,
            "format": "json",
        },
    )
    assert r.status_code == 202
    deadline = time.monotonic() + 90
    while True:
        job = call("get", f"/exports/{r.json()['id']}", key).json()
        if job["state"] not in ("queued", "running") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert job["state"] == "succeeded", job
    assert job["downloadUrl"] and download(job["downloadUrl"])


@pytest.mark.django_db
@pytest.mark.usefixtures("eager")
def test_a_contextual_export_takes_the_data_endpoints_filters(
    world, make_key, call, client, django_capture_on_commit_callbacks
):
    """The file holds what GET /data/... returns with the same filters; BOM on request."""
    raw = make_key()
    body = {
        "level": "room",
        "experimentId": world.experiment.public_id,
        "roomId": world.room.public_id,
        "dataTypes": ["events"],
        "format": "zip",
        "filters": {"category": "component", "onsetFrom": 0},
        "csvBom": True,
    }
    with django_capture_on_commit_callbacks(execute=True):
        r = call("post", "/exports", raw, body)
    assert r.status_code == 202, r.content
    job = r.json()
    assert job["filters"] == {"category": "component", "onsetFrom": "0"} and job["csvBom"]
    done = ExportJob.objects.get(public_id=job["id"])
    assert done.status == Status.SUCCEEDED, done.error
    with zipfile.ZipFile(io.BytesIO(done.file.open("rb").read())) as zf:
        data = zf.read(f"{world.room.public_id}/events.csv")
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    ids = sorted(x[rows[0].index("id")] for x in rows[1:])
    api = client.get(
        f"/api/v3/data/events/room/{world.room.public_id}",
        {"category": "component", "onsetFrom": 0, "limit": 10000},
        headers={"X-API-Key": raw},
    ).json()["data"]
    assert ids == sorted(x["id"] for x in api)
    for bad in ({"startTime": "soon"}, {"nope": "1"}, {"eventType": ["a"]}):
        r = call("post", "/exports", raw, {**body, "filters": bad})
        assert r.status_code == 400, (bad, r.content)
        assert r.json()["status"] == "error"


@pytest.mark.django_db
def test_an_identical_export_caught_starting_or_stopping_is_a_503_to_retry(
    world, make_key, call, client, monkeypatch
):
    """Two identical requests at once: the second one's insert meets the first one's job,
    which has left the active jobs by the time it looks again (the race is pinned by finding
    no active job at either look). The API answers 503 with what to do, the dialog shows it,
    no job is written, and the next try reuses the job."""
    key = make_key()
    body = {"level": "experiment", "experimentId": world.experiment.public_id}
    client.force_login(world.user("owner"))
    form = {
        "level": "room",
        "experiment": world.experiment.public_id,
        "room": world.room.public_id,
        "data_types": ["events"],
        "fmt": "zip",
        "anonymization": "keep",
    }
    first = call("post", "/exports", key, body)
    assert first.status_code == 202
    assert client.post(reverse("exports:new"), form).status_code == 302
    with monkeypatch.context() as race:
        race.setattr(services, "_active_job", lambda user, fingerprint: None)
        r = call("post", "/exports", key, body)
        assert r.status_code == 503, r.content
        error = r.json()
        assert error["status"] == "error" and "try again" in error["error"]["message"]
        page = client.post(reverse("exports:new"), form)
        assert page.status_code == 503 and b"try again in a moment" in page.content
    assert ExportJob.objects.count() == 2
    again = call("post", "/exports", key, body)
    assert again.status_code == 202 and again.json()["id"] == first.json()["id"]
