"""Liveness and readiness."""

# No `from __future__ import annotations` here: dependency-injector reads the
# Provide markers inside Annotated at import time, and strings would hide them.
import asyncio
from typing import Annotated

from dependency_injector.wiring import inject
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text

from entrypoints.container import Container
from entrypoints.http.errors import RETRY_AFTER_OUTAGE
from entrypoints.http.problems import PROBLEM_RESPONSES, problem
from entrypoints.http.provided import Provided

router = APIRouter(tags=["health"], responses=PROBLEM_RESPONSES)

READY_TIMEOUT_SECONDS = 1.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    # Touches no dependency: it answers whether this process serves at all.
    return {"status": "ok"}


@router.get("/readyz")
@inject
async def readyz(
    engine: Annotated[Engine, Depends(Provided[Container.engine])],
) -> JSONResponse:
    try:
        await asyncio.wait_for(asyncio.to_thread(_ping, engine), READY_TIMEOUT_SECONDS)
    except Exception:  # unreachable, refused, timed out: all mean "not ready"
        return problem(
            503,
            "service_unavailable",
            "the database does not answer",
            {"Retry-After": RETRY_AFTER_OUTAGE},
        )
    return JSONResponse({"status": "ok"})


def _ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
