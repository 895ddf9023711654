"""`GET /metrics` (Prometheus text format) and the middleware that times each route."""

# No `from __future__ import annotations` here: dependency-injector reads the
# Provide markers inside Annotated at import time, and strings would hide them.
import time
from typing import Annotated

from dependency_injector.wiring import inject
from fastapi import APIRouter, Depends, Response
from prometheus_client import Histogram
from starlette.types import ASGIApp, Receive, Scope, Send

from adapters.metrics import Metrics
from entrypoints.container import Container
from entrypoints.http.provided import Provided

router = APIRouter(tags=["health"])

METRICS_PATH = "/metrics"
# Label values come from this set and from route templates only: a client
# inventing methods or paths cannot grow the number of time series.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@router.get(
    METRICS_PATH,
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
@inject
async def metrics(metrics: Annotated[Metrics, Depends(Provided[Container.metrics])]) -> Response:
    # async: rendering is quick and must not queue behind a storm of hashing requests.
    return Response(metrics.render(), media_type=metrics.content_type)


class RouteLatency:
    """Observes how long each request takes, labelled by its route template."""

    def __init__(self, app: ASGIApp, histogram: Histogram) -> None:
        self.app = app
        self.histogram = histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            # The router records the matched route in the scope it was given.
            route = getattr(scope.get("route"), "path", None)
            if route != METRICS_PATH:
                method = scope["method"] if scope["method"] in _METHODS else "OTHER"
                self.histogram.labels(method=method, route=route or "unmatched").observe(
                    time.perf_counter() - start
                )
