"""Per-IP request budgets of the routes that anyone may call, as route dependencies."""

# No `from __future__ import annotations` here: dependency-injector reads the
# Provide markers inside Annotated at import time, and strings would hide them.
from typing import Annotated

from dependency_injector.wiring import inject
from fastapi import Depends, Request

from application.throttling import LimitRequests
from entrypoints.container import Container
from entrypoints.http.provided import Provided


def client_ip(request: Request) -> str | None:
    """The peer address; behind a trusted proxy the server puts the forwarded one here."""
    return request.client.host if request.client else None


@inject
def signup_budget(
    request: Request,
    limit: Annotated[LimitRequests, Depends(Provided[Container.limit_signups])],
) -> None:
    limit(client_ip(request))


@inject
def refresh_budget(
    request: Request,
    limit: Annotated[LimitRequests, Depends(Provided[Container.limit_refreshes])],
) -> None:
    limit(client_ip(request))
