"""Errors under /oauth/ take the RFC 6749 5.2 shape: `{"error", "error_description"}`.

errors.py stays the one mapping that decides what an error is (its status,
code and safe detail); under /oauth/ its problem-details answer is re-shaped
here, with the error codes that OAuth clients understand.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

OAUTH_PREFIX = "/oauth/"
# RFC 6749 5.1: token responses, and so their errors, must never be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="latchkey"'}

# Problem code -> (status, RFC 6749 error). Anything else keeps its status and
# becomes invalid_client (401), invalid_request (4xx) or server_error (5xx).
_OAUTH_ERRORS: dict[str, tuple[int, str]] = {
    "invalid_credentials": (400, "invalid_grant"),
    "invalid_refresh_token": (400, "invalid_grant"),
    "validation_error": (400, "invalid_request"),
    "unsupported_grant_type": (400, "unsupported_grant_type"),
    "invalid_client": (401, "invalid_client"),
    # No RFC 6749 code means "throttled"; slow_down (RFC 8628, registered for
    # the token endpoint) says what to do, and Retry-After says when.
    "too_many_requests": (429, "slow_down"),
    "service_unavailable": (503, "temporarily_unavailable"),
}
_KEPT_HEADERS = frozenset({"retry-after", "www-authenticate", "allow", "x-request-id"})

Handler = Callable[[Request, Exception], Response]


def is_oauth(request: Request) -> bool:
    return request.url.path.startswith(OAUTH_PREFIX)


def oauth_error(
    status: int, error: str, description: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": error, "error_description": description}
    return JSONResponse(body, status_code=status, headers={**NO_STORE, **(headers or {})})


def oauth_aware(handler: Callable[[Request, Any], Any]) -> Handler:
    """The same (synchronous) handler, but its answer re-shaped under /oauth/."""

    def handle(request: Request, exc: Exception) -> Response:
        response = handler(request, exc)
        assert isinstance(response, Response)
        return as_oauth_error(response) if is_oauth(request) else response

    return handle


def as_oauth_error(problem: Response) -> JSONResponse:
    details = json.loads(bytes(problem.body))
    status, error = _OAUTH_ERRORS.get(details.get("code"), (problem.status_code, ""))
    if not error:
        # Under /oauth/ a 401 can only be about the client (HTTP Basic).
        error = {401: "invalid_client"}.get(status) or (
            "invalid_request" if status < 500 else "server_error"
        )
    # Starlette gives header names in lower case.
    headers = {k: v for k, v in problem.headers.items() if k in _KEPT_HEADERS}
    if error == "invalid_client":
        # RFC 6749 5.2: a 401 names the authentication scheme the client must use.
        headers["www-authenticate"] = BASIC_CHALLENGE["WWW-Authenticate"]
    return oauth_error(status, error, str(details.get("detail", "")), headers)
