"""The API's export jobs: ``POST /api/v3/exports``, ``GET`` and ``DELETE
/api/v3/exports/{exportId}``, the dashboard's jobs, rights and files.

The exports app adds this router to the API itself (``ExportsConfig.ready``): the data
browser's API knows nothing of exports, so the two apps do not import each other in a circle.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema

from data_browser import access
from data_browser.api.errors import ApiError, error_response, reject_unknown_parameters
from data_browser.api.records import MAX_ID_LENGTH
from data_browser.api.schemas import Error

from . import services

router = Router(tags=["exports"])
NO_NUL = r"^[^\x00]*$"


class ExportRequest(Schema):
    level: Literal["type", "participant", "room", "experiment"] = Field(
        description="type: one data type of a participant; participant; room; experiment"
    )
    experimentId: str = Field(max_length=MAX_ID_LENGTH, pattern=NO_NUL)
    roomId: str | None = Field(
        None,
        max_length=MAX_ID_LENGTH,
        pattern=NO_NUL,
        description="Required below the experiment level",
    )
    participantId: str | None = Field(
        None,
        max_length=MAX_ID_LENGTH,
        pattern=NO_NUL,
        description="Participant id (or code); required at type and participant level",
    )
    dataTypes: list[str] | None = Field(
        None, description="API names (e.g. ratings/continuous); default all the key may read"
    )
    format: Literal["csv", "json", "zip"] = "zip"
    anonymization: Literal["keep", "remove", "aggregate"] = "keep"
    includeMedia: bool = False
    filters: dict[str, str | int | float] | None = Field(
        None,
        description="A contextual export: the record filters of the data endpoints (the same "
        'query parameters, e.g. {"eventType": "component.complete", "startTime": '
        '"2024-10-20T14:30:00Z"}) for exactly one data type; the file holds only the rows '
        "GET /data/{dataType}/... returns with them and its metadata.json records them",
    )
    csvBom: bool = Field(False, description="Start every CSV file with the UTF-8 BOM (Excel)")


class ExportScope(Schema):
    experimentId: str
    roomId: str | None
    participantId: str | None


class ExportJobOut(Schema):
    status: Literal["success"]
    id: str
    state: Literal["queued", "running", "succeeded", "failed", "cancelled", "denied"]
    level: str
    scope: ExportScope
    format: str
    anonymization: str
    dataTypes: list[str]
    includeMedia: bool
    filters: dict[str, str] = Field(description="The filters, as the file records them")
    csvBom: bool
    progress: int = Field(description="Percent done")
    rowsDone: int
    rowsExpected: int | None
    message: str
    error: str | None
    fileName: str | None
    size: int | None
    sha256: str | None
    downloadUrl: str | None = Field(description="Signed, expiring link once succeeded")
    createdAt: str | None
    startedAt: str | None
    finishedAt: str | None
    expiresAt: str | None


_EXPORT_ERRORS = {400: Error, 401: Error, 403: Error, 404: Error, 429: Error}


def _export_error(exc: services.ExportError) -> HttpResponse:
    return error_response(exc.status, None, exc.message)


def _job_response(job: Any, request: HttpRequest, status: int = 200) -> HttpResponse:
    response = HttpResponse(
        orjson.dumps({"status": "success", **services.job_as_dict(job, request)}),
        status=status,
        content_type="application/json",
    )
    response["Location"] = request.build_absolute_uri(f"/api/v3/exports/{job.public_id}")
    return response


def _job(request: HttpRequest, export_id: str) -> Any:
    """The user's job, if the key reaches its experiment."""
    job = services.get_job(request.user, export_id)
    if not access.for_request(request).is_member(job.experiment):
        raise ApiError(404, "NOT_FOUND", "No such export")
    return job


@router.post(
    "",
    operation_id="start_export",
    response={202: ExportJobOut, **_EXPORT_ERRORS, 503: Error},
    summary="Start an export job",
    description="Same jobs, rights and files as the dashboard's exports. An identical running "
    "job is reused. The key's read scopes limit the data types.",
)
def start_export(request: HttpRequest, payload: ExportRequest) -> HttpResponse:
    reject_unknown_parameters(request, ())
    try:
        job = services.start_export(
            request.user,
            level=payload.level,
            experiment_id=payload.experimentId,
            room_id=payload.roomId,
            participant_id=payload.participantId,
            data_types=payload.dataTypes,
            fmt=payload.format,
            anonymization=payload.anonymization,
            include_media=payload.includeMedia,
            filters=payload.filters,
            csv_bom=payload.csvBom,
            key=request.auth,
            request=request,
        )
    except services.ExportError as exc:
        return _export_error(exc)
    return _job_response(job, request, status=202)


@router.get(
    "/{exportId}",
    operation_id="get_export",
    response={200: ExportJobOut, **_EXPORT_ERRORS},
    summary="State, progress and (when done) the signed download link of an export",
)
def get_export(request: HttpRequest, exportId: str) -> HttpResponse:
    reject_unknown_parameters(request, ())
    return _job_response(_job(request, exportId), request)


@router.delete(
    "/{exportId}",
    operation_id="delete_export",
    response={200: ExportJobOut, 204: None, **_EXPORT_ERRORS},
    summary="Cancel a queued or running export (200 with the job), or remove a finished one (204)",
)
def delete_export(request: HttpRequest, exportId: str) -> HttpResponse:
    reject_unknown_parameters(request, ())
    job = _job(request, exportId)
    if job.is_active:
        return _job_response(services.cancel_export(job, request.user, request=request), request)
    services.delete_export(job, request.user, request=request)
    return HttpResponse(status=204)
