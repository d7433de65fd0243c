"""The OpenAPI document describes every endpoint, and the API keeps to it for any input:
schemathesis generates requests from /api/v3/openapi.json and sends them with a real key."""

from __future__ import annotations

import pytest
import schemathesis
import yaml
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from data_browser import datatypes as T

pytestmark = pytest.mark.django_db

CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
)


def test_the_spec_lists_every_endpoint_with_its_errors(client):
    spec = client.get("/api/v3/openapi.json").json()
    paths = spec["paths"]
    for dt in T.DATA_TYPES:
        op = paths[f"/api/v3/data/{dt.api_name}/{{scope}}/{{scopeId}}"]["get"]
        assert {"200", "400", "401", "403", "404", "429"} <= set(op["responses"])
        assert {"text/csv", "application/json"} <= set(op["responses"]["200"]["content"])
        names = {p["name"] for p in op["parameters"]}
        assert {
            "roomId",
            "startTime",
            "endTime",
            "limit",
            "offset",
            "sort",
            "order",
            "format",
            "cursor",
        } <= names
        assert f"/api/v3/ingest/{dt.api_name}" in paths
    for dt in T.DATA_TYPES:
        op = paths[f"/api/v3/data/{dt.api_name}/{{scope}}/{{scopeId}}"]["get"]
        params = {p["name"]: p for p in op["parameters"]}
        assert set(dt.api_filters) <= set(params)
        assert "application/x-ndjson" in op["responses"]["200"]["content"]
        assert "ndjson" in str(params["format"]["schema"])
    events = paths["/api/v3/data/events/{scope}/{scopeId}"]["get"]
    category = next(p for p in events["parameters"] if p["name"] == "category")
    assert set(T.EVENT_CATEGORIES) <= set(str(category["schema"]).replace("'", " ").split())
    sync = paths["/api/v3/data/sync/{scope}/{scopeId}"]["get"]
    assert "aggregationWindow" in sync["description"]
    assert {"componentType", "stateId"} <= {
        p["name"] for p in paths["/api/v3/data/components/{scope}/{scopeId}"]["get"]["parameters"]
    }
    assert "get" in paths["/api/v3/data/rooms/experiment/{scopeId}"]
    assert "get" in paths["/api/v3/data/participants/{scope}/{scopeId}"]
    error = spec["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"status", "error"}
    assert {"post"} <= set(paths["/api/v3/exports"])
    assert {"get", "delete"} <= set(paths["/api/v3/exports/{exportId}"])
    assert spec["components"]["securitySchemes"]["ApiKeyAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
    }


def test_schemathesis_finds_no_server_error_and_no_nonconforming_response(
    world, make_key, settings_fixture, keep_connection
):
    settings_fixture.API_RATE_LIMIT_PER_KEY = 100_000
    settings_fixture.API_RATE_LIMIT_PER_ADDRESS = 100_000
    settings_fixture.API_RATE_LIMIT_PER_KEY_HOUR = 100_000
    settings_fixture.API_RATE_LIMIT_PER_ENDPOINT = 100_000
    key = make_key()
    real_ids = {
        "experiment": world.experiment.public_id,
        "room": world.room.public_id,
        "participant": world.participant.public_id,
    }
    app = get_wsgi_application()
    schemathesis.experimental.OPEN_API_3_1.enable()  # ninja writes OpenAPI 3.1
    schema = schemathesis.from_wsgi("/api/v3/openapi.json", app)
    operations = [op.ok() for op in schema.get_all_operations()]
    # + exports (3), health, check-access, rooms, participants
    assert len(operations) == 2 * len(T.DATA_TYPES) + 7

    for operation in operations:

        @settings(
            max_examples=15,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(), use_real_id=st.booleans())
        def run(case, use_real_id):
            path = case.path_parameters or {}
            if use_real_id and path.get("scope") in real_ids:
                path["scopeId"] = real_ids[path["scope"]]
            response = case.call_wsgi(headers={"X-API-Key": key})
            case.validate_response(response, checks=CHECKS)

        run()


@pytest.fixture
def settings_fixture(settings):
    return settings


@pytest.fixture
def keep_connection():
    """Requests sent straight to the WSGI handler must not close the test's connection (the
    test client does the same)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def test_the_spec_is_also_served_as_yaml(client):
    r = client.get("/api/v3/openapi.yaml")
    assert r.status_code == 200 and r["Content-Type"].startswith("application/yaml")
    assert yaml.safe_load(r.content) == client.get("/api/v3/openapi.json").json()
