"""RFC 9457 problem details: the one shape of every error outside /oauth/."""

from __future__ import annotations

from http import HTTPStatus

from fastapi.responses import JSONResponse

from entrypoints.http.schemas import Problem

PROBLEM_JSON = "application/problem+json"


def problem(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {
        "type": f"urn:latchkey:problem:{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


# `model` puts Problem into the components; the schema is declared under the
# media type that errors are actually sent with.
_PROBLEM: dict[str, object] = {
    "model": Problem,
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}
PROBLEM_RESPONSES: dict[int | str, dict[str, object]] = {
    "4XX": {**_PROBLEM, "description": "Problem details (RFC 9457)"},
    "503": {**_PROBLEM, "description": "The database is unreachable; retry after Retry-After"},
}
