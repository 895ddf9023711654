"""A bare app that tells which worker process answered, for the serving tests."""

from __future__ import annotations

import os

from fastapi import FastAPI

app = FastAPI()


@app.get("/healthz")
async def healthz() -> dict[str, int]:
    return {"pid": os.getpid()}
