"""The API's error answers, as the API overview documents them, and never a 500 page.

Every error is ``{"status": "error", "error": {"code", "message", "details"}}``. The code
follows from the HTTP status (``CODES``); ``details`` names the parameter, the value sent
and what was expected (400), or the required and the provided scopes (403). Every 401 has
the same body, whatever was wrong with the key. Callers raise ``ApiError`` (or use
``bad_parameter``/``forbidden``); the handlers here turn ninja's own errors into the same
shape, and ``middleware.ApiErrors`` does it for anything outside an API operation (unknown
paths, wrong methods, crashes).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from .ratelimit import RateLimited

UNAUTHORIZED_MESSAGE = "Missing or invalid API key. Send a valid key in the X-API-Key header."

# The documented codes, by HTTP status; statuses the overview does not list get the
# nearest documented code's spirit under a code of their own (kept few and stable).
CODES = {
    400: "INVALID_PARAMETER",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    429: "RATE_LIMIT_EXCEEDED",
    500: "INTERNAL_SERVER_ERROR",
    503: "SERVICE_UNAVAILABLE",
}
ALL_CODES = tuple(dict.fromkeys(CODES.values()))


def code_for(status: int) -> str:
    if status in CODES:
        return CODES[status]
    return "INVALID_PARAMETER" if status < 500 else "INTERNAL_SERVER_ERROR"


class ApiError(Exception):
    """An error answer. ``code`` is kept only when it is one of ``ALL_CODES``; anything else
    (older lower-case names) becomes the code of ``status``."""

    def __init__(
        self, status: int, code: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code if code in ALL_CODES else code_for(status)
        self.message = message
        self.details = details or {}


def bad_parameter(
    name: str, message: str, *, value: Any = None, expected: str | None = None
) -> ApiError:
    """A 400 naming the parameter; ``expected`` defaults to the message (what is wrong)."""
    return ApiError(
        400,
        "INVALID_PARAMETER",
        f"{name}: {message}",
        {"parameter": name, "value": value, "expected": expected or message},
    )


def forbidden(message: str, *, required: list[str] | str, provided: list[str]) -> ApiError:
    """A 403 naming the scope (or right) needed and the ones the key has."""
    required_list = [required] if isinstance(required, str) else list(required)
    return ApiError(
        403, "FORBIDDEN", message, {"requiredScopes": required_list, "providedScopes": provided}
    )


def reject_unknown_parameters(request: HttpRequest, known: Iterable[str]) -> None:
    """A query parameter the endpoint does not take is a 400 naming it (never ignored: a
    misspelt filter would otherwise return everything)."""
    allowed = list(known)
    for name in request.GET:
        if name not in allowed:
            raise bad_parameter(
                name,
                "is not a parameter of this endpoint",
                value=request.GET.get(name),
                expected=f"one of {', '.join(allowed)}" if allowed else "no query parameters",
            )


def error_body(
    status: int, message: str, details: dict[str, Any] | None = None, code: str | None = None
) -> bytes:
    error = {"code": code or code_for(status), "message": message, "details": details or {}}
    return orjson.dumps({"status": "error", "error": error})


def error_response(
    status: int, code: str | None, message: str, details: dict[str, Any] | None = None
) -> HttpResponse:
    if code not in ALL_CODES:
        code = code_for(status)
    return HttpResponse(
        error_body(status, message, details, code), status=status, content_type="application/json"
    )


def unauthorized_response() -> HttpResponse:
    response = error_response(401, "UNAUTHORIZED", UNAUTHORIZED_MESSAGE)
    response["WWW-Authenticate"] = 'ApiKey header="X-API-Key"'
    return response


def rate_limited_response(exc: RateLimited) -> HttpResponse:
    response = error_response(
        429,
        "RATE_LIMIT_EXCEEDED",
        exc.message,
        {"limit": exc.limit, "window": exc.window, "retryAfterSeconds": exc.retry_after},
    )
    response["Retry-After"] = str(exc.retry_after)
    return response


def _parameter_name(loc: Any) -> str:
    parts = [str(p) for p in (loc or ()) if p not in ("query", "path", "body", "header")]
    return ".".join(parts) or "request"


def _expected(error: dict[str, Any]) -> str:
    """What the parameter should have been, in the overview's words where it has some."""
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind.startswith(("datetime", "date_")):
        return "ISO 8601 timestamp"
    if kind == "int_parsing" or kind == "int_from_float":
        return "integer"
    if kind == "float_parsing":
        return "number"
    if kind == "bool_parsing":
        return "true or false"
    if kind == "greater_than_equal":
        return f"number >= {ctx.get('ge')}"
    if kind == "less_than_equal":
        return f"number <= {ctx.get('le')}"
    if kind == "literal_error":
        return f"one of {ctx.get('expected', '')}".strip()
    if kind == "missing":
        return "a value (required)"
    return str(error.get("msg", "a valid value"))


def _sent_value(request: HttpRequest, name: str, error: dict[str, Any]) -> Any:
    if name in request.GET:
        return request.GET.get(name)
    value = error.get("input")
    return value if isinstance(value, str | int | float | bool) or value is None else None


def validation_details(
    request: HttpRequest, errors: list[dict[str, Any]]
) -> tuple[str, dict[str, Any]]:
    problems = []
    for e in errors:
        name = _parameter_name(e.get("loc"))
        problems.append(
            {"parameter": name, "value": _sent_value(request, name, e), "expected": _expected(e)}
        )
    message = "; ".join(f"Invalid {p['parameter']}: expected {p['expected']}" for p in problems)
    details = dict(problems[0])
    if len(problems) > 1:
        details["problems"] = problems
    return message, details


def install(api: NinjaAPI) -> None:
    @api.exception_handler(ApiError)
    def api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @api.exception_handler(ValidationError)
    def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        message, details = validation_details(request, list(exc.errors))
        return error_response(400, "INVALID_PARAMETER", message, details)

    @api.exception_handler(AuthenticationError)
    def unauthorized(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        return unauthorized_response()

    @api.exception_handler(RateLimited)
    def rate_limited(request: HttpRequest, exc: RateLimited) -> HttpResponse:
        return rate_limited_response(exc)

    @api.exception_handler(Http404)
    def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return error_response(404, "NOT_FOUND", str(exc) or "Not found")

    @api.exception_handler(HttpError)
    def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        return error_response(exc.status_code, None, str(exc.message))
