"""The bearer-token dependency of protected routes."""

# No `from __future__ import annotations` here: dependency-injector reads the
# Provide markers inside Annotated at import time, and strings would hide them.
from typing import Annotated

from dependency_injector.wiring import Provide, inject
from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from application.authenticate import Authenticate, Principal
from domain.errors import InvalidToken
from entrypoints.container import Container

bearer = HTTPBearer(auto_error=False, description="An access token from login or refresh")


@inject
def current_principal(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    authenticate: Annotated[Authenticate, Depends(Provide[Container.authenticate])],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise InvalidToken("missing bearer token")
    return authenticate(credentials.credentials)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
