"""Sign up, log in, refresh and log out."""

# No `from __future__ import annotations` here: dependency-injector reads the
# Provide markers inside Annotated at import time, and strings would hide them.
from typing import Annotated

from dependency_injector.wiring import inject
from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from application.login import LogIn, LogInCommand
from application.logout import LogOut, LogoutScope
from application.refresh import RefreshCommand
from application.signup import SignUp, SignUpCommand
from application.tokens import TokenPair
from entrypoints.container import Container
from entrypoints.http.headers import device_name
from entrypoints.http.offload import with_hashing
from entrypoints.http.problems import PROBLEM_RESPONSES
from entrypoints.http.provided import Provided, container_of
from entrypoints.http.responses import json_response
from entrypoints.http.schemas import (
    LogInRequest,
    LogOutRequest,
    RefreshRequest,
    SignUpRequest,
    TokenPairResponse,
    UserResponse,
)
from entrypoints.http.security import CurrentPrincipal, protected
from entrypoints.http.throttling import client_ip

router = APIRouter(prefix="/v1/auth", tags=["auth"], responses=PROBLEM_RESPONSES)

NO_STORE = {"Cache-Control": "no-store"}


@router.post("/signup", status_code=201, response_model=UserResponse)
@inject
async def sign_up(
    body: SignUpRequest,
    request: Request,
    use_case: Annotated[SignUp, Depends(Provided[Container.sign_up])],
) -> UserResponse:
    command = SignUpCommand(
        email=str(body.email), password=body.password, client_ip=client_ip(request)
    )
    user = await with_hashing(request, use_case, command)
    return UserResponse(id=user.id, email=str(user.email), created_at=user.created_at)


@router.post("/login", response_model=TokenPairResponse)
@inject
async def log_in(
    body: LogInRequest,
    request: Request,
    use_case: Annotated[LogIn, Depends(Provided[Container.log_in])],
) -> Response:
    pair = await with_hashing(
        request,
        use_case,
        LogInCommand(
            email=body.email,
            password=body.password,
            device_name=body.device_name or device_name(request),
            client_ip=client_ip(request),
        ),
    )
    return _token_pair(pair)


@router.post("/refresh", response_model=TokenPairResponse)
async def refresh(body: RefreshRequest, request: Request) -> Response:
    # A hot path: the use case straight from the container (provided.py).
    use_case = container_of(request).refresh()
    command = RefreshCommand(refresh_token=body.refresh_token, client_ip=client_ip(request))
    return _token_pair(await run_in_threadpool(use_case, command))


@protected(router, "/logout", methods=["POST"], status_code=204)
@inject
def log_out(
    principal: CurrentPrincipal,
    use_case: Annotated[LogOut, Depends(Provided[Container.log_out])],
    body: LogOutRequest | None = None,
) -> Response:
    use_case(principal, LogoutScope(body.scope if body else "local"))
    return Response(status_code=204)


def _token_pair(pair: TokenPair) -> Response:
    return json_response(TokenPairResponse.of(pair), headers=NO_STORE)
