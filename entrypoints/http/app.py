"""The FastAPI application."""

from __future__ import annotations

from fastapi import FastAPI

from entrypoints.container import Container
from entrypoints.http import auth, health, sessions, users, well_known
from entrypoints.http.errors import install_error_handlers
from entrypoints.http.middleware import BodySizeLimit, RequestContext
from entrypoints.http.schemas import Problem

PROBLEM_RESPONSES: dict[int | str, dict[str, object]] = {
    "4XX": {"model": Problem, "content": {"application/problem+json": {}}},
}


def create_app(container: Container | None = None) -> FastAPI:
    container = container or Container()
    app = FastAPI(
        title="Latchkey",
        version="1.0.0",
        description="Sign-up, login, rotating refresh tokens and sessions.",
        responses=PROBLEM_RESPONSES,
    )
    app.state.container = container
    for module in (auth, users, sessions, well_known, health):
        app.include_router(module.router)
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit)
    app.add_middleware(RequestContext)
    return app
