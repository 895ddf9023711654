"""Liveness and readiness."""

# No `from __future__ import annotations` here: dependency-injector reads the
# Provide markers inside Annotated at import time, and strings would hide them.
import asyncio
from typing import Annotated

from dependency_injector.wiring import Provide, inject
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text

from entrypoints.container import Container

router = APIRouter(tags=["health"])

READY_TIMEOUT_SECONDS = 1.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    # Touches no dependency: it answers whether this process serves at all.
    return {"status": "ok"}


@router.get("/readyz")
@inject
async def readyz(
    engine: Annotated[Engine, Depends(Provide[Container.engine])],
) -> JSONResponse:
    try:
        await asyncio.wait_for(asyncio.to_thread(_ping, engine), READY_TIMEOUT_SECONDS)
    except Exception:
        return JSONResponse(
            {"status": "unavailable"}, status_code=503, headers={"Retry-After": "5"}
        )
    return JSONResponse({"status": "ok"})


def _ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
