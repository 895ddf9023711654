"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from entrypoints.container import Container, hashing_threads
from entrypoints.http import auth, health, metrics, oauth, sessions, users, well_known
from entrypoints.http.errors import install_error_handlers
from entrypoints.http.middleware import RequestPipeline
from entrypoints.http.schemas import Problem
from entrypoints.http.security import document_bearer_schemes

# `model` puts Problem into the components; the schema is declared under the
# media type that errors are actually sent with.
_PROBLEM: dict[str, object] = {
    "model": Problem,
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}
PROBLEM_RESPONSES: dict[int | str, dict[str, object]] = {
    "4XX": {**_PROBLEM, "description": "Problem details (RFC 9457)"},
    "503": {**_PROBLEM, "description": "The database is unreachable; retry after Retry-After"},
}


_NO_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}


def create_app(container: Container | None = None) -> FastAPI:
    container = container or Container()
    threads = container.settings().worker_threads
    hashing = hashing_threads(container.settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The default thread pool, behind sync routes (entrypoints/http/offload.py).
        to_thread.current_default_thread_limiter().total_tokens = threads
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="Latchkey",
        version="1.0.0",
        description="Sign-up, login, rotating refresh tokens and sessions.",
        responses=PROBLEM_RESPONSES,
        telemetry=None if container.settings().opentelemetry else _NO_TELEMETRY,
    )
    app.state.container = container
    # Enough to keep every hashing thread busy (entrypoints/container.py).
    app.state.hashing_tokens = max(threads, hashing)
    # The router tries the routers in this order, one route at a time: the
    # hottest paths (/v1/users/me, /oauth/introspect) first.
    for module in (users, oauth, auth, sessions, well_known, health, metrics):
        app.include_router(module.router)
    document_bearer_schemes(app)
    install_error_handlers(app)
    app.add_middleware(RequestPipeline, metrics=container.metrics())
    return app
