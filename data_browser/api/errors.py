"""The API's error answers: always JSON ``{"error": code, "message": text}``, never a 500.

``details`` is added where there is more to say (which parameters are wrong).
Every 401 has the same body, whatever was wrong with the key.
"""

from __future__ import annotations

from typing import Any

import orjson
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from .ratelimit import RateLimited

UNAUTHORIZED_MESSAGE = "Missing or invalid API key. Send a valid key in the X-API-Key header."


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def bad_parameter(name: str, message: str) -> ApiError:
    return ApiError(
        400,
        "bad_request",
        f"{name}: {message}",
        {"parameters": [{"parameter": name, "message": message}]},
    )


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> HttpResponse:
    body: dict[str, Any] = {"error": code, "message": message}
    if details:
        body.update(details)
    return HttpResponse(orjson.dumps(body), status=status, content_type="application/json")


def _parameter_name(loc: Any) -> str:
    parts = [str(p) for p in (loc or ()) if p not in ("query", "path", "body", "header")]
    return ".".join(parts) or "request"


def install(api: NinjaAPI) -> None:
    @api.exception_handler(ApiError)
    def api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @api.exception_handler(ValidationError)
    def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        problems = [
            {"parameter": _parameter_name(e.get("loc")), "message": e.get("msg", "is invalid")}
            for e in exc.errors
        ]
        message = "; ".join(f"{p['parameter']}: {p['message']}" for p in problems)
        return error_response(400, "bad_request", message, {"parameters": problems})

    @api.exception_handler(AuthenticationError)
    def unauthorized(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        response = error_response(401, "unauthorized", UNAUTHORIZED_MESSAGE)
        response["WWW-Authenticate"] = 'ApiKey header="X-API-Key"'
        return response

    @api.exception_handler(RateLimited)
    def rate_limited(request: HttpRequest, exc: RateLimited) -> HttpResponse:
        response = error_response(
            429, "rate_limited", exc.message, {"retryAfterSeconds": exc.retry_after}
        )
        response["Retry-After"] = str(exc.retry_after)
        return response

    @api.exception_handler(Http404)
    def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return error_response(404, "not_found", str(exc) or "Not found")

    @api.exception_handler(HttpError)
    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        return error_response(exc.status_code, "error", exc.message)
