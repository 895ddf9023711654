"""`GET /metrics` (Prometheus text format)."""

# No `from __future__ import annotations` here: dependency-injector reads the
# Provide markers inside Annotated at import time, and strings would hide them.
from typing import Annotated

from dependency_injector.wiring import inject
from fastapi import APIRouter, Depends, Response

from adapters.metrics import Metrics
from entrypoints.container import Container
from entrypoints.http.problems import PROBLEM_RESPONSES
from entrypoints.http.provided import Provided

router = APIRouter(tags=["health"], responses=PROBLEM_RESPONSES)

METRICS_PATH = "/metrics"


@router.get(
    METRICS_PATH,
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
@inject
async def metrics(metrics: Annotated[Metrics, Depends(Provided[Container.metrics])]) -> Response:
    # async: rendering is quick and must not queue behind a storm of hashing requests.
    return Response(metrics.render(), media_type=metrics.content_type)
