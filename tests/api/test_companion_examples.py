"""The examples of the three companion pages (API overview, API keys, later edition), taken
from the pages themselves and run as written against a live server: only the host, the
room id and the names a snippet leaves to the reader (``url``, ``headers``, ``room_ids``)
are filled in.

Not run: the Python SDK (``pip install hyperstudy``), pandas (not a dependency of the
project), R (no R here), Node's ``dotenv`` package, and the shared-experiments and
experiment-management endpoints, which are outside this product.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
import requests

from data_browser.api import keys
from data_browser.models import ApiKey, Event

PAGES = Path("/work/shared/reference")
OVERVIEW = PAGES / "companion-api-overview.md"
KEYS = PAGES / "companion-api-keys.md"
LATER = PAGES / "companion-data-types-later-edition.md"
HOST = "https://api.hyperstudy.io"


def block(page: Path, marker: str, lang: str = "python", nth: int = 0) -> str:
    """The ``nth`` fenced ``lang`` block after the line holding ``marker``, dedented."""
    lines = page.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if marker in line)
    found = -1
    for i in range(start + 1, len(lines)):
        fence = lines[i].strip()
        if fence == f"```{lang}":
            found += 1
            if found < nth:
                continue
            indent = len(lines[i]) - len(lines[i].lstrip())
            body = []
            for line in lines[i + 1 :]:
                if line.strip() == "```":
                    return "\n".join(body) + "\n"
                body.append(line[indent:])
    raise LookupError(f"no {lang} block after {marker!r} in {page.name}")


def run(code: str, url: str, *, env: dict | None = None, cwd: Path | None = None, lang="python"):
    code = code.replace(HOST, url)
    if lang == "python":
        command = [sys.executable, "-c", code]
    elif lang == "javascript":
        command = ["node", "--input-type=module", "-e", code]
    else:
        command = ["bash", "-c", code]
    done = subprocess.run(
        command,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def live(transactional_db, world, live_server, settings):
    settings.API_RATE_LIMIT_FAILED_AUTH = 100
    _key, raw = keys.create_key(world.user("owner"), name="pages", scopes=["read:*"])
    return live_server.url, raw


def test_the_examples_of_the_companion_pages(live, world, client, settings, tmp_path):
    """One live server for all examples (each transactional test reloads the demo)."""
    url, key = live
    room = world.room.public_id
    events_in_room = Event.objects.filter(room=world.room).count()
    env = {"HYPERSTUDY_API_KEY": key}

    # Overview: the quick start with raw HTTP requests.
    quick = block(OVERVIEW, "### Quick Start Example", nth=1).replace("your-room-id", room)
    assert run(quick, url, env=env) == f"Retrieved {min(10, events_in_room)} events\n"
    assert "Error: 401" in run(quick, url, env={"HYPERSTUDY_API_KEY": "hst_live_wrong"})

    # Overview: the pagination loop, with a page size that makes it loop.
    loop = block(OVERVIEW, "### Fetching All Pages", nth=1).replace("limit = 1000", "limit = 7")
    harness = f"import requests\nBASE_URL = '{HOST}/api/v3'\n{loop}\n"
    harness += f"events = fetch_all_events({key!r}, {room!r})\n"
    harness += "print(len(events), len({e['id'] for e in events}))\n"
    assert run(harness, url) == f"{events_in_room} {events_in_room}\n"

    # Overview: the error handling snippet, for a good answer and for each error code.
    handling = block(OVERVIEW, "### Example Error Handling")
    base = f"{HOST}/api/v3/data/events/room"
    cases = {
        "ok": (f"{base}/{room}", key, "data: "),
        "401": (f"{base}/{room}", "hst_live_wrong", "HTTP Error: 401"),
        "404": (f"{base}/room_nope", key, "HTTP Error: 404"),
        "400": (f"{base}/{room}?startTime=invalid-date", key, "HTTP Error: 400"),
    }
    for url_for, sent_key, expected in cases.values():
        harness = f"import requests\nurl = {url_for!r}\nheaders = {{'X-API-Key': {sent_key!r}}}\n"
        out = run(harness + handling + "if 'data' in globals(): print('data:', len(data))\n", url)
        assert expected in out, out
    # what the snippet reads when it looks at an error body (it has raised before, for 4xx)
    r = requests.get(
        f"{url}/api/v3/data/events/room/{room}?startTime=x",
        headers={"X-API-Key": key},
        timeout=30,
    )
    body = r.json()
    assert body["status"] == "error" and body["error"]["code"] == "INVALID_PARAMETER"
    assert body["error"]["details"]["parameter"] == "startTime"

    # Overview: retry with backoff, against a limit this test sets low.
    retry = block(OVERVIEW, "4. **Retry with backoff**")
    settings.API_RATE_LIMIT_PER_ENDPOINT = 0  # every request is one too many
    harness = (
        "import requests\n"
        + retry
        + (
            f"r = make_request_with_retry({base!r} + '/{room}', {{'X-API-Key': {key!r}}})\n"
            "h = r.headers\n"
            "print(r.status_code, h.get('Retry-After'), h['X-RateLimit-Remaining'])\n"
        )
    )
    out = run(harness, url).splitlines()
    assert out[:3] == [
        "Rate limited. Waiting 1s...",
        "Rate limited. Waiting 2s...",
        "Rate limited. Waiting 4s...",
    ]
    status, retry_after, remaining = out[3].split()
    assert status == "429" and 1 <= int(retry_after) <= 60 and remaining == "0"
    settings.API_RATE_LIMIT_PER_ENDPOINT = 1000
    assert run(harness, url).startswith("200 None ")

    # Overview: the health check and the OpenAPI file.
    sample = json.loads(block(OVERVIEW, "## API Health Check", lang="json"))
    health = requests.get(f"{url}/api/v3/health", timeout=30).json()
    assert health["status"] == sample["status"] == "healthy"
    assert set(sample) <= set(health) and health["version"] == sample["version"]
    assert "/api/v3/openapi.yaml" in OVERVIEW.read_text()
    assert requests.get(f"{url}/api/v3/openapi.yaml", timeout=30).text.startswith("openapi:")

    # API keys: the key made on the key page, the .env file it offers, the Python load.
    client.force_login(world.user("owner"))
    made = client.post(
        "/keys/",
        {"name": "Python Analysis Script", "scopes": ["read:events"], "expires_in": "7d"},
        HTTP_HOST=urllib.parse.urlsplit(url).netloc,
    )
    page = client.get(made["Location"], HTTP_HOST=urllib.parse.urlsplit(url).netloc)
    href = re.search(
        r'id="download-env" download="\.env" href="data:text/plain;charset=utf-8,([^"]*)"',
        page.content.decode(),
    )
    dotenv = urllib.parse.unquote(href.group(1))
    new_key = re.search(r"HYPERSTUDY_API_KEY=(hst_live_\w+)", dotenv).group(1)
    assert keys.authenticate(new_key) == ApiKey.objects.get(name="Python Analysis Script")
    assert f"HYPERSTUDY_BASE_URL={url}/api/v3" in dotenv
    project = tmp_path / "project"
    project.mkdir()
    (project / ".env").write_text(dotenv)
    load = block(KEYS, "**Load in Python**")
    harness = load + (
        "BASE_URL = os.environ['HYPERSTUDY_BASE_URL']\n"
        f"r = requests.get(f'{{BASE_URL}}/data/events/room/{room}',\n"
        "                 headers={'X-API-Key': API_KEY})\n"
        "print(r.status_code, len(r.json()['data']))\n"
    )
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("HYPERSTUDY_")}
    done = subprocess.run(
        [sys.executable, "-c", "import requests\n" + harness],
        env=clean_env,
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout == f"200 {events_in_room}\n"

    # API keys: using the key in Python, JavaScript and curl.
    env = {"HYPERSTUDY_API_KEY": new_key}
    python = block(KEYS, "### In Python").replace("YOUR_ROOM_ID", room)
    assert run(python, url, env=env) == f"Retrieved {events_in_room} events\n"
    javascript = block(KEYS, "### In JavaScript", lang="javascript").replace("YOUR_ROOM_ID", room)
    assert (
        run(javascript, url, env=env, lang="javascript") == f"Retrieved {events_in_room} events\n"
    )
    curl = block(KEYS, "**Test with curl**", lang="bash")
    curl = curl.replace("YOUR_KEY_HERE", new_key).replace("ROOM_ID", room)
    assert json.loads(run(curl, url, lang="bash"))["status"] == "success"
    # the troubleshooting page's 403 message
    r = requests.get(
        f"{url}/api/v3/data/recordings/room/{room}", headers={"X-API-Key": new_key}, timeout=30
    )
    assert r.status_code == 403
    assert "Insufficient permissions. Required: read:recordings" in r.json()["error"]["message"]
    # the rate-limited loop of the troubleshooting section (one room, so one second)
    paced = block(KEYS, "**Example with rate limiting**")
    harness = (
        f"import requests\nroom_ids = [{room!r}]\nurl = {base!r} + '/{room}'\n"
        f"headers = {{'X-API-Key': {new_key!r}}}\n{paced}print(response.status_code)\n"
    )
    assert run(harness, url) == "200\n"

    # Later edition: all data for a participant, and the access check.
    fetch_all = block(LATER, "### Fetching All Data for a Participant")
    fetch_all = fetch_all.replace("'user_xyz789'", repr(world.participant.public_id))
    fetch_all = fetch_all.replace("'room_abc123'", repr(room))
    out = run(f"API_KEY = {key!r}\n" + fetch_all, url)
    assert [line.split(":")[0] for line in out.splitlines()] == [
        "events",
        "recordings",
        "chat",
        "ratings/continuous",
        "sync",
    ]
    assert "GET /data/check-access/experiment/{experimentId}" in LATER.read_text()
    r = requests.get(
        f"{url}/api/v3/data/check-access/experiment/{world.experiment.public_id}",
        headers={"X-API-Key": key},
        timeout=30,
    )
    assert r.json()["canView"] is True and r.json()["canExport"] is True
