"""The one mapping from errors to HTTP answers; routes never catch errors themselves."""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.errors import (
    EmailTaken,
    InvalidCredentials,
    InvalidInput,
    InvalidRefreshToken,
    InvalidToken,
    ServiceUnavailable,
    SessionNotFound,
    TooManyRequests,
    UserNotFound,
)
from entrypoints.http.problems import problem

log = structlog.get_logger("latchkey.http")

BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
RETRY_AFTER_OUTAGE = "5"

# The detail of these is fixed: the raised message may say more than a client should learn.
FIXED: dict[type[Exception], tuple[int, str, str, dict[str, str] | None]] = {
    EmailTaken: (409, "email_taken", "an account with this email already exists", None),
    InvalidCredentials: (401, "invalid_credentials", "invalid email or password", None),
    InvalidToken: (
        401,
        "invalid_token",
        "the access token is missing or not valid",
        BEARER_CHALLENGE,
    ),
    InvalidRefreshToken: (401, "invalid_refresh_token", "the refresh token is not valid", None),
    SessionNotFound: (404, "not_found", "no such session", None),
    UserNotFound: (404, "not_found", "no such user", None),
    ServiceUnavailable: (
        503,
        "service_unavailable",
        "the service is temporarily unavailable, try again shortly",
        {"Retry-After": RETRY_AFTER_OUTAGE},
    ),
}

STATUS_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def _fixed(request: Request, exc: Exception) -> Response:
    for kind, (status, code, detail, headers) in FIXED.items():
        if isinstance(exc, kind):
            return problem(status, code, detail, headers)
    raise exc


def _invalid_input(request: Request, exc: Exception) -> Response:
    return problem(422, "validation_error", str(exc))


def _too_many(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TooManyRequests)
    return problem(
        429,
        "too_many_requests",
        "too many attempts, try again later",
        {"Retry-After": str(exc.retry_after)},
    )


def _request_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # Only where and what: pydantic's error objects also echo the input, which may be a password.
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg")))
    return problem(422, "validation_error", "; ".join(parts) or "invalid request")


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = STATUS_CODES.get(exc.status_code, "http_error")
    return problem(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))


def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unhandled_error", error_type=type(exc).__name__)
    return problem(500, "internal_error", "an unexpected error occurred")


def install_error_handlers(app: FastAPI) -> None:
    for kind in FIXED:
        app.add_exception_handler(kind, _fixed)
    app.add_exception_handler(InvalidInput, _invalid_input)
    app.add_exception_handler(TooManyRequests, _too_many)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
