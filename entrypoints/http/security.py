"""The bearer-token dependency of protected routes."""

# No `from __future__ import annotations` here: dependency-injector reads the
# Provide markers inside Annotated at import time, and strings would hide them.
from typing import Annotated

from dependency_injector.wiring import inject
from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer

from application.authenticate import Authenticate, Principal
from domain.errors import InvalidToken
from entrypoints.container import Container
from entrypoints.http.offload import answer
from entrypoints.http.provided import Provided

# Two ways to the same `Authorization: Bearer` header, so that /docs offers
# both: log in with an email and password (Swagger UI calls /oauth/token), or
# paste an access token obtained elsewhere.
password_login = OAuth2PasswordBearer(
    tokenUrl="/oauth/token",
    auto_error=False,
    description="Log in with your email (as username) and password",
)
pasted_token = HTTPBearer(auto_error=False, description="An access token from login or refresh")


@inject
async def current_principal(
    token: Annotated[str | None, Depends(password_login)],
    _pasted: Annotated[HTTPAuthorizationCredentials | None, Depends(pasted_token)],
    authenticate: Annotated[Authenticate, Depends(Provided[Container.authenticate])],
) -> Principal:
    if not token:
        raise InvalidToken("missing bearer token")
    # Usually answered from the caches, on the event loop; else in a thread.
    return await answer(authenticate, token)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
