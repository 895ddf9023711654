"""Routes whose endpoint takes the request and returns a finished response.

The hottest routes (`/v1/users/me`, `/oauth/introspect`) read their own
credentials and body and serialize their own answer. FastAPI's request
handler would still run around them: resolving an empty set of dependencies
(with a placeholder response), looking for a body and telemetry data,
checking the endpoint's return. Measured in-process, that was a third of a
cached `/v1/users/me` and a fifth of an introspection. A route class's
`get_route_handler` is FastAPI's hook for replacing that handler; this one
returns the endpoint itself. The route is still an `APIRoute`: the OpenAPI
document, the route template in the scope, the app's exception handlers and
the body size limit are the same as for any other.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]
E = TypeVar("E", bound=Endpoint)


class RequestOnlyRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        super().__init__(path, endpoint, **options)
        taken = self.dependant
        others = (
            taken.dependencies,
            taken.path_params,
            taken.query_params,
            taken.header_params,
            taken.cookie_params,
            taken.body_params,
        )
        # Nothing FastAPI would have parsed, checked or injected may be lost.
        if (
            not inspect.iscoroutinefunction(endpoint)
            or taken.request_param_name is None
            or any(others)
            or len(inspect.signature(endpoint).parameters) != 1
        ):
            raise TypeError(f"{path}: the endpoint must be `async def f(request) -> Response`")

    def get_route_handler(self) -> Endpoint:
        handler: Endpoint = self.endpoint
        return handler


def request_only(
    router: APIRouter, path: str, *, methods: list[str], **options: Any
) -> Callable[[E], E]:
    """Like `@router.get(...)`/`@router.post(...)`, with a `RequestOnlyRoute`."""

    def add(endpoint: E) -> E:
        router.add_api_route(
            path, endpoint, methods=methods, route_class_override=RequestOnlyRoute, **options
        )
        return endpoint

    return add
