"""The caller's sessions (one per device)."""

# No `from __future__ import annotations` here: dependency-injector reads the
# Provide markers inside Annotated at import time, and strings would hide them.
from typing import Annotated
from uuid import UUID

from dependency_injector.wiring import inject
from fastapi import APIRouter, Depends, Response

from application.sessions import ListSessions, RevokeSession
from entrypoints.container import Container
from entrypoints.http.problems import PROBLEM_RESPONSES
from entrypoints.http.provided import Provided
from entrypoints.http.schemas import SessionResponse
from entrypoints.http.security import BEARER_AUTH, CurrentPrincipal

router = APIRouter(prefix="/v1/sessions", tags=["sessions"], responses=PROBLEM_RESPONSES)


@router.get("", response_model=list[SessionResponse], openapi_extra=BEARER_AUTH)
@inject
def list_sessions(
    principal: CurrentPrincipal,
    use_case: Annotated[ListSessions, Depends(Provided[Container.list_sessions])],
) -> list[SessionResponse]:
    return [SessionResponse(**vars(view)) for view in use_case(principal)]


@router.delete("/{session_id}", status_code=204, openapi_extra=BEARER_AUTH)
@inject
def revoke_session(
    session_id: UUID,
    principal: CurrentPrincipal,
    use_case: Annotated[RevokeSession, Depends(Provided[Container.revoke_session])],
) -> Response:
    use_case(principal, session_id)
    return Response(status_code=204)
