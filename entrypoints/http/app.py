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
from entrypoints.http.request_only import RequestOnlyRoute
from entrypoints.http.security import document_bearer_schemes

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
        # Revocations committed by other processes reach this one's caches.
        listener = container.revocation_listener()
        app.state.revocation_listener = listener
        if listener is not None:
            listener.start()
        try:
            yield
        finally:
            if listener is not None:
                await to_thread.run_sync(listener.stop)

    app = FastAPI(
        lifespan=lifespan,
        title="Latchkey",
        version="1.0.0",
        description="Sign-up, login, rotating refresh tokens and sessions.",
        telemetry=None if container.settings().opentelemetry else _NO_TELEMETRY,
        # A path with a trailing slash is not found, not redirected: the redirect's
        # Location came from the Host header, and a 307 has the client send its
        # credentials again, to wherever that names.
        redirect_slashes=False,
    )
    app.state.container = container
    # Enough to keep every hashing thread busy (entrypoints/container.py).
    app.state.hashing_tokens = max(threads, hashing)
    # The routes are the app's own, not included routers: FastAPI 0.165 matches
    # an included router's routes twice, with scope bookkeeping for each
    # (measured in-process: a fifth of a cached /v1/users/me, a tenth of an
    # introspection). So each router declares the app's error responses itself
    # (PROBLEM_RESPONSES; /oauth/ its own). The router tries them in this
    # order, one at a time (about a microsecond each): the request-only routes
    # first, before even the documentation's. They are the hottest
    # (/v1/users/me, /oauth/introspect): keep request-only for such routes.
    # Unlike included routes, these get nothing from the app's own route
    # options (dependencies, default response class,
    # `app.dependency_overrides`; this app sets none), and the list is taken
    # once, here: before the OpenAPI document is first built.
    routes = [
        route
        for module in (users, oauth, auth, sessions, well_known, health, metrics)
        for route in module.router.routes
    ]
    app.router.routes[0:0] = sorted(routes, key=lambda r: not isinstance(r, RequestOnlyRoute))
    document_bearer_schemes(app)
    install_error_handlers(app)
    app.add_middleware(RequestPipeline, metrics=container.metrics())
    return app
