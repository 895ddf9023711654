"""The `hello` ceiling: a bare FastAPI app, served by uvicorn like Latchkey.

`bench/run.py` serves it with `uvicorn bench.hello:app` and the same worker
count and load generator as Latchkey: no Python web endpoint on this server
can answer faster, so it is the yardstick of the HTTP workloads.
"""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.get("/")
async def hello() -> dict[str, bool]:
    return {"ok": True}
