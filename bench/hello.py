"""The `hello` ceiling: a bare FastAPI app, served exactly like Latchkey.

`bench/run.py` serves it with `python -m bench.hello`: the same server code as
`latchkey serve` (entrypoints/serving.py: uvicorn, one SO_REUSEPORT socket per
worker), the same worker count and load generator. No Python web endpoint on
this server can answer faster, so it is the yardstick of the HTTP workloads.
"""

from __future__ import annotations

import argparse

from fastapi import FastAPI

from entrypoints import serving

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.get("/")
async def hello() -> dict[str, bool]:
    return {"ok": True}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    serving.serve(
        "bench.hello:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
