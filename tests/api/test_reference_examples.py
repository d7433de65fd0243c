"""The reference document's examples, run as written (host replaced) against a live server."""

from __future__ import annotations

import csv
import os
import subprocess
from pathlib import Path

import pytest
import requests
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from data_browser import datatypes as T
from data_browser.models import Recording

REFERENCE = Path("/work/shared/reference/api-data-types-and-endpoints.txt")
WEBM = bytes.fromhex("1a45dfa3")  # stand-in media starts like the demo's WebM files
HOST = "https://api.hyperstudy.io"

# The "Complete Download Script" of the reference, verbatim.
COMPLETE_DOWNLOAD = r"""#!/bin/bash
# complete_download.sh - Download all data for a room
set -e # Exit on error
# Configuration
API_KEY="${HYPERSTUDY_API_KEY}"
ROOM_ID="$1"
OUTPUT_DIR="data_${ROOM_ID}_$(date +%Y%m%d_%H%M%S)"
if [ -z "$API_KEY" ]; then
echo "Error: HYPERSTUDY_API_KEY environment variable not set"
exit 1
fi
if [ -z "$ROOM_ID" ]; then
echo "Usage: $0 <room_id>"
exit 1
fi
# Create output directory
mkdir -p "$OUTPUT_DIR"
cd "$OUTPUT_DIR"
echo "Downloading data for room: $ROOM_ID"
# Download each data type
for DATA_TYPE in events recordings chat sync ratings/continuous; do
FILENAME=$(echo $DATA_TYPE | tr '/' '_')
echo " Downloading $DATA_TYPE..."
curl -s -H "X-API-Key: $API_KEY" \
"https://api.hyperstudy.io/api/v3/data/$DATA_TYPE/room/$ROOM_ID?format=csv" \
> "${FILENAME}.csv"
LINES=$(wc -l < "${FILENAME}.csv")
echo " Saved ${FILENAME}.csv ($LINES lines)"
done
echo "Download complete! Files saved to: $OUTPUT_DIR"
ls -lh
"""

ERROR_HANDLING = r"""#!/bin/bash
API_KEY="hst_live_your_key_here"
ROOM_ID="room_abc123"
# Make request and capture HTTP status code
HTTP_STATUS=$(curl -s -o response.json -w "%{http_code}" \
-H "X-API-Key: $API_KEY" \
"https://api.hyperstudy.io/api/v3/data/events/room/$ROOM_ID")
if [ $HTTP_STATUS -eq 200 ]; then
echo "Success! Retrieved data:"
cat response.json | jq '.data | length'
echo "events"
elif [ $HTTP_STATUS -eq 401 ]; then
echo "Error: Invalid API key"
elif [ $HTTP_STATUS -eq 404 ]; then
echo "Error: Room not found"
else
echo "Error: HTTP $HTTP_STATUS"
cat response.json
fi
rm response.json
"""


@pytest.fixture
def live(transactional_db, world, live_server, make_key, settings):
    settings.API_RATE_LIMIT_FAILED_AUTH = 100
    return live_server.url, make_key()


def test_the_scripts_are_the_reference_scripts():
    text = REFERENCE.read_text()
    for script in (COMPLETE_DOWNLOAD, ERROR_HANDLING):
        for line in script.splitlines()[1:]:
            if line.startswith(('API_KEY="hst_live', 'ROOM_ID="room_abc')):
                continue
            assert line in text, line


def run(script: str, tmp_path: Path, url: str, *args: str, env: dict | None = None) -> str:
    path = tmp_path / "script.sh"
    path.write_text(script.replace(HOST, url))
    done = subprocess.run(
        ["bash", str(path), *args],
        cwd=tmp_path,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def test_reference_examples_work_against_a_live_server(live, world, tmp_path):
    """One live server for all examples (each transactional test reloads the demo)."""
    url, key = live
    for rec in Recording.objects.filter(room=world.room):
        if not default_storage.exists(rec.file.name):
            default_storage.save(rec.file.name, ContentFile(WEBM + b" media bytes"))
    check_complete_download_script(url, key, world, tmp_path / "download")
    check_error_handling_script(url, key, world, tmp_path / "errors")
    check_python_examples(url, key, world)


def check_complete_download_script(url: str, key: str, world, tmp_path: Path) -> None:
    tmp_path.mkdir()
    out = run(
        COMPLETE_DOWNLOAD, tmp_path, url, world.room.public_id, env={"HYPERSTUDY_API_KEY": key}
    )
    assert "Download complete!" in out
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    for dt in (T.EVENTS, T.RECORDINGS, T.CHAT, T.SYNC, T.CONTINUOUS_RATINGS):
        rows = list(csv.reader((folder / f"{dt.file_stem}.csv").open()))
        assert rows[0] == dt.field_names
        expected = set(dt.model.objects.filter(room=world.room).values_list("record_id", flat=True))
        id_col = dt.field_names.index(dt.id_field.name)
        assert {r[id_col] for r in rows[1:]} == expected and len(rows) - 1 == len(expected)
        assert f"Saved {dt.file_stem}.csv ({len(expected) + 1} lines)" in out


def check_error_handling_script(url: str, key: str, world, tmp_path: Path) -> None:
    tmp_path.mkdir()
    assert "Error: Invalid API key" in run(ERROR_HANDLING, tmp_path, url)
    with_key = ERROR_HANDLING.replace("hst_live_your_key_here", key)
    assert "Error: Room not found" in run(with_key, tmp_path, url)
    found = with_key.replace('ROOM_ID="room_abc123"', f'ROOM_ID="{world.room.public_id}"')
    out = run(found, tmp_path, url)
    expected = T.EVENTS.model.objects.filter(room=world.room).count()
    assert out.splitlines()[:3] == ["Success! Retrieved data:", str(expected), "events"]


def check_python_examples(url: str, api_key: str, world) -> None:
    base = f"{url}/api/v3"
    headers = {"X-API-Key": api_key}
    participant_id, room_id = world.participant.public_id, world.room.public_id
    all_data = {}
    for data_type in ["events", "recordings", "chat", "ratings/continuous", "sync"]:
        response = requests.get(
            f"{base}/data/{data_type}/participant/{participant_id}",
            headers=headers,
            params={"roomId": room_id},
            timeout=30,
        )
        assert response.ok
        all_data[data_type] = response.json()["data"]
    assert all(all_data.values())
    recordings = requests.get(f"{base}/data/recordings/room/{room_id}", headers=headers, timeout=30)
    assert recordings.json()["data"]
    for rec in recordings.json()["data"]:
        assert rec["participantName"] and rec["duration"] / 1000 > 0
        media = requests.get(rec["downloadUrl"], timeout=30)  # no key, no session
        assert media.status_code == 200 and media.content
    csv_text = requests.get(
        f"{base}/data/events/room/{room_id}", headers=headers, params={"format": "csv"}, timeout=30
    ).text
    expected = T.EVENTS.model.objects.filter(room=world.room).count()
    assert csv_text.count("\n") == expected + 1
