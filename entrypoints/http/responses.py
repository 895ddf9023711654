"""JSON bodies serialized once, for the hot routes.

A route that returns a model has FastAPI validate it against the response
model again and then encode it; these routes build the body from a model they
have just made, so they return it as a finished response. They still declare
`response_model` for the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Response
from pydantic import BaseModel


def json_response(
    model: BaseModel, *, headers: Mapping[str, str] | None = None, exclude_none: bool = False
) -> Response:
    body = model.model_dump_json(exclude_none=exclude_none)
    return Response(body, media_type="application/json", headers=headers)
