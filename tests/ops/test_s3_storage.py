"""Exports, downloads and recording links on an S3-compatible store (moto's server, started
here on 127.0.0.1), with a worker that keeps nothing on a disk the web process reads.

This is the several-machines layout in one box: the worker gets its own MEDIA_ROOT and
EXPORT_TEMP_DIR, which the test deletes before anything is downloaded; whatever the web
process serves must come from the store.
"""

from __future__ import annotations

import io
import shutil
import urllib.request
import zipfile

import boto3
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from moto.server import ThreadedMotoServer

from data_browser.models import Recording, Room
from exports import services
from exports.models import ExportJob, ExportPiece, Status
from tests.exports.workerproc import celery_worker, wait_for

pytestmark = pytest.mark.postgres

BUCKET = "hyperstudy-test"
CREDENTIALS = {"access_key": "test-key", "secret_key": "test-secret", "region_name": "us-east-1"}


@pytest.fixture(scope="module")
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=CREDENTIALS["access_key"],
        aws_secret_access_key=CREDENTIALS["secret_key"],
        region_name=CREDENTIALS["region_name"],
    )
    client.create_bucket(Bucket=BUCKET)
    yield endpoint, client
    server.stop()


@pytest.fixture
def s3(settings, s3_endpoint):
    """This process's default storage is the bucket, as AWS_STORAGE_BUCKET_NAME would make it."""
    endpoint, client = s3_endpoint
    settings.AWS_STORAGE_BUCKET_NAME = BUCKET
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {"bucket_name": BUCKET, "endpoint_url": endpoint, **CREDENTIALS},
        },
    }
    return endpoint, client


def keys(client, prefix: str) -> list[str]:
    listing = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [item["Key"] for item in listing.get("Contents", [])]


def fetch(url: str) -> bytes:
    return fetch_response(url)[0]


def fetch_response(url: str) -> tuple[bytes, dict[str, str]]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read(), dict(response.headers)


@pytest.mark.worker
def test_an_experiment_zip_in_pieces_goes_through_the_store(
    transactional_db, world, s3, client, tmp_path
):
    endpoint, s3_client = s3
    worker_disk = tmp_path / "worker-disk"
    env = {
        "AWS_STORAGE_BUCKET_NAME": BUCKET,
        "AWS_S3_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": CREDENTIALS["access_key"],
        "AWS_SECRET_ACCESS_KEY": CREDENTIALS["secret_key"],
        "AWS_DEFAULT_REGION": CREDENTIALS["region_name"],
        "MEDIA_ROOT": str(worker_disk / "media"),
        "EXPORT_TEMP_DIR": str(worker_disk / "export-tmp"),
        "EXPORT_PIECE_ROWS": "1",  # one room per piece: the pieces meet only in the store
    }
    with celery_worker(env, concurrency=2):
        job = services.start_export(
            world.user("owner"),
            experiment_id=world.experiment.public_id,
            level="experiment",
            fmt="zip",
            data_types=["events", "chat"],
        )
        wait_for(lambda: ExportJob.objects.get(pk=job.pk).status in Status.values[2:], 120)
        # The pieces are removed right after the merged file is stored and the job succeeds.
        wait_for(lambda: not ExportPiece.objects.filter(job=job).exists(), 30)
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED, job.error
    shutil.rmtree(worker_disk, ignore_errors=True)  # nothing the worker wrote locally is left

    assert keys(s3_client, job.file.name) == [job.file.name]
    assert keys(s3_client, f"exports/{job.public_id.hex}/parts/") == []  # pieces removed
    assert not ExportPiece.objects.filter(job=job).exists()

    client.force_login(world.user("owner"))
    response = client.get(f"/exports/{job.public_id}/download/")
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.testzip() is None
    rooms = Room.objects.filter(experiment=world.experiment)
    assert len(rooms) > 1
    names = set(archive.namelist())
    for room in rooms:
        assert f"{room.public_id}/events.csv" in names

    client.logout()
    link = services.signed_download_url(job)
    response = client.get(link)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == archive.fp.getvalue()


def test_recording_links_are_the_store_s_own_presigned_urls(db, world, s3, client, make_key):
    endpoint, _client = s3
    recording = Recording.objects.filter(room=world.room).exclude(file="").first()
    assert recording is not None
    storage = storages["default"]
    storage.delete(recording.file.name)
    storage.save(recording.file.name, ContentFile(b"\x1a\x45\xdf\xa3 recording bytes"))

    response = client.get(
        f"/api/v3/data/recordings/room/{world.room.public_id}",
        headers={"X-API-Key": make_key()},
    )
    assert response.status_code == 200
    record = next(r for r in response.json()["data"] if r["recordingId"] == recording.record_id)
    assert record["downloadUrl"].startswith(f"{endpoint}/{BUCKET}/")
    assert "Signature=" in record["downloadUrl"] or "X-Amz-Signature=" in record["downloadUrl"]
    body, headers = fetch_response(record["downloadUrl"])
    assert body == b"\x1a\x45\xdf\xa3 recording bytes"
    name = recording.file.name.rsplit("/", 1)[-1]
    assert headers["Content-Disposition"] == (
        f"attachment; filename=\"{name}\"; filename*=UTF-8''{name}"
    )


def test_an_export_made_in_this_process_is_stored_and_served_from_the_store(
    world, s3, export, client
):
    _endpoint, s3_client = s3
    job = export(level="room", room_id=world.room.public_id, data_types=["events"], fmt="csv")
    assert job.status == Status.SUCCEEDED, job.error
    assert keys(s3_client, job.file.name) == [job.file.name]
    client.force_login(world.user("owner"))
    response = client.get(f"/exports/{job.public_id}/download/")
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert body.splitlines()[0].lstrip(b"\xef\xbb\xbf").startswith(b"id,")
    stored = s3_client.get_object(Bucket=BUCKET, Key=job.file.name)["Body"].read()
    assert body == stored
