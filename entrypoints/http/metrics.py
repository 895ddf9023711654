"""`GET /metrics` (Prometheus text format) and how each route's latency is observed."""

# No `from __future__ import annotations` here: dependency-injector reads the
# Provide markers inside Annotated at import time, and strings would hide them.
from typing import Annotated

from dependency_injector.wiring import inject
from fastapi import APIRouter, Depends, Response
from prometheus_client import Histogram
from starlette.types import Scope

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
    """How long each request took, labelled by its route template (not /metrics itself)."""

    def __init__(self, histogram: Histogram) -> None:
        self._histogram = histogram
        # The labelled child of each (method, route): `labels()` takes a lock and
        # builds a tuple on every call. Bounded like the time series themselves.
        self._children: dict[tuple[str, str], Histogram] = {}

    def observe(self, scope: Scope, seconds: float) -> None:
        # The router records the matched route in the scope it was given.
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        if route == METRICS_PATH:
            return
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        child = self._children.get((method, route))
        if child is None:
            child = self._histogram.labels(method=method, route=route)
            self._children[(method, route)] = child
        child.observe(seconds)
