"""Routes whose endpoint takes the request and returns a finished response.

The hottest routes (`/v1/users/me`, `/oauth/introspect`) read their own
credentials and body and serialize their own answer. FastAPI's request
handler would still run around them: resolving an empty set of dependencies
(with a placeholder response), looking for a body, checking the endpoint's
return. Measured in-process, that was a third of a cached `/v1/users/me` and
a fifth of an introspection. A route class's `get_route_handler` is FastAPI's
hook for replacing that handler; this one calls the endpoint itself.

The route is still an `APIRoute`: the OpenAPI document, the route template in
the scope, the app's exception handlers and the body size limit are those of
any other. FastAPI's handler still serves:

- a request that FastAPI's OpenTelemetry records (`LATCHKEY_OPENTELEMETRY`
  with a tracer provider set up): it adds the endpoint's spans and gives log
  processors the request;
- the route included with `include_router`, which may add dependencies (the
  app's or the include's). The app holds these routes as its own
  (entrypoints/http/app.py), so this is only a safeguard.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from fastapi.telemetry import get_telemetry_data

Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]
E = TypeVar("E", bound=Endpoint)
F = TypeVar("F", bound=Callable[..., Any])

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


class RequestOnlyRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        # Nothing FastAPI would have parsed, checked, injected or serialized may be lost.
        if not _takes_only_the_request(endpoint):
            raise TypeError(
                f"{path}: the endpoint must be `async def f(request: Request) -> Response`"
            )
        super().__init__(path, endpoint, **options)  # makes the one handler
        self._handler_made = True
        if self.dependant.dependencies:  # the route's or its router's `dependencies=`
            raise TypeError(f"{path}: a request-only route takes no dependencies")

    def get_route_handler(self) -> Endpoint:
        fastapis = super().get_route_handler()
        if getattr(self, "_handler_made", False):
            # Only `include_router` asks again, for a handler with the
            # dependencies it adds: FastAPI's own.
            return fastapis
        endpoint: Endpoint = self.endpoint

        async def handler(request: Request) -> Response:
            if get_telemetry_data() is not None:  # FastAPI's telemetry records this request
                return await fastapis(request)
            return await endpoint(request)

        return handler


def _takes_only_the_request(endpoint: Callable[..., Any]) -> bool:
    if not inspect.iscoroutinefunction(endpoint):
        return False
    signature = inspect.signature(endpoint, eval_str=True)
    parameters = list(signature.parameters.values())
    returned = signature.return_annotation
    return (
        len(parameters) == 1
        and parameters[0].kind in _POSITIONAL  # Starlette passes the request by position
        and parameters[0].annotation is Request
        and isinstance(returned, type)
        and issubclass(returned, Response)
    )


def request_only(
    router: APIRouter, path: str, *, methods: list[str], **options: Any
) -> Callable[[E], E]:
    """Like `@router.get(...)`/`@router.post(...)`, with a `RequestOnlyRoute`."""
    return routed(router, path, methods=methods, route_class=RequestOnlyRoute, **options)


def routed(
    router: APIRouter,
    path: str,
    *,
    methods: list[str],
    route_class: type[APIRoute],
    **options: Any,
) -> Callable[[F], F]:
    """Like `@router.get(...)`/`@router.post(...)`, with a route class of its own."""

    def add(endpoint: F) -> F:
        router.add_api_route(
            path, endpoint, methods=methods, route_class_override=route_class, **options
        )
        return endpoint

    return add
