"""Everything under /api/ answers in the API's JSON, with the rate-limit headers.

API operations format their own errors (``errors.install``); this catches what happens
outside them: unknown paths (also /api/v3/ itself), a method a path does not take, and a
crash anywhere, which would otherwise be Django's HTML pages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse

from . import errors, ratelimit

log = logging.getLogger(__name__)

PREFIX = "/api/"


def _is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").startswith("application/json")


def _message(request: HttpRequest, status: int) -> str:
    if status == 404:
        return (
            f"No such endpoint: {request.method} {request.path}. The endpoints are listed in "
            "/api/v3/openapi.json."
        )
    if status == 405:
        return f"{request.method} is not allowed on {request.path}."
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class ApiErrors:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(PREFIX):
            return self.get_response(request)
        response = self.get_response(request)
        if response.status_code >= 400 and not _is_json(response):
            allow = response.get("Allow")
            status = response.status_code
            details = {"path": request.path}
            if allow:
                details["allowed"] = allow
            response = errors.error_response(status, None, _message(request, status), details)
            if allow:
                response["Allow"] = allow
        ratelimit.add_headers(request, response)
        return response

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not request.path.startswith(PREFIX):
            return None
        if isinstance(exc, Http404 | PermissionDenied):
            return None  # Django makes its 404/403 answer; __call__ turns it into JSON
        log.exception("API request failed: %s %s", request.method, request.path)
        return errors.error_response(
            500, "INTERNAL_SERVER_ERROR", "The server failed to answer; the error is logged."
        )


def unknown_path(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Any path under /api/ that no endpoint serves."""
    return errors.error_response(404, "NOT_FOUND", _message(request, 404), {"path": request.path})
