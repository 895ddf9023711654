"""The one mapping from errors to HTTP answers; routes never catch errors themselves."""

from __future__ import annotations

import inspect

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from domain.errors import (
    EmailTaken,
    InvalidClient,
    InvalidCredentials,
    InvalidInput,
    InvalidRefreshToken,
    InvalidToken,
    ServiceUnavailable,
    SessionNotFound,
    TooManyRequests,
    UnsupportedGrantType,
    UserNotFound,
)
from entrypoints.http.oauth_errors import BASIC_CHALLENGE, oauth_aware
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
    InvalidClient: (401, "invalid_client", "client authentication failed", BASIC_CHALLENGE),
    UnsupportedGrantType: (
        400,
        "unsupported_grant_type",
        "grant_type must be password or refresh_token",
        None,
    ),
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
    if exc.status_code == 400:
        # FastAPI's answer to a body it could not decode (bad UTF-8, JSON nested
        # too deep): a malformed body, which the contract answers with a 422.
        return problem(422, "validation_error", "the request body could not be parsed")
    code = STATUS_CODES.get(exc.status_code, "http_error")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return problem(exc.status_code, code, str(exc.detail), headers)


_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> str:
    """Every method that some route answers at this path (RFC 9110 Allow). The
    router names only the methods of the first route that matched the path,
    although GET and DELETE /v1/users/me, say, are two routes."""
    allowed = []
    for method in _METHODS:
        # A fresh scope: the one at hand carries what the first match left in it.
        probe = {
            "type": "http",
            "path": request.scope["path"],
            "root_path": request.scope.get("root_path", ""),
            # Wherever GET is answered, so is HEAD (middleware.py's RequestPipeline).
            "method": "GET" if method == "HEAD" else method,
            "headers": [],
        }
        if any(route.matches(probe)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return ", ".join(allowed)


# Connection failures that escaped a unit of work (which maps its own): an
# outage still, not a bug, so a 503 with Retry-After rather than a 500.
DATABASE_DOWN = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)


def _database_down(request: Request, exc: Exception) -> Response:
    log.warning("database_unavailable", error_type=type(exc).__name__)
    return _fixed(request, ServiceUnavailable("the database is unavailable"))


def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unhandled_error", error_type=type(exc).__name__)
    response = problem(500, "internal_error", "an unexpected error occurred")
    # This handler runs outside the middleware that stamps the request id.
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    if request_id:
        response.headers["X-Request-ID"] = str(request_id)
    return response


def install_error_handlers(app: FastAPI) -> None:
    for kind in FIXED:
        app.add_exception_handler(kind, _fixed)
    app.add_exception_handler(InvalidInput, _invalid_input)
    app.add_exception_handler(TooManyRequests, _too_many)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for kind in DATABASE_DOWN:
        app.add_exception_handler(kind, _database_down)
    app.add_exception_handler(Exception, _unexpected)
    # Under /oauth/ the same answers take the RFC 6749 shape (oauth_errors.py).
    # FastAPI's own websocket handler is async and never meets /oauth/.
    for kind, handler in list(app.exception_handlers.items()):
        if not inspect.iscoroutinefunction(handler):
            app.exception_handlers[kind] = oauth_aware(handler)
