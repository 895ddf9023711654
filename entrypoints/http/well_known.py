"""Discovery documents: the JWKS that lets any service verify tokens offline."""

# No `from __future__ import annotations` here: dependency-injector reads the
# Provide markers inside Annotated at import time, and strings would hide them.
from typing import Annotated, Any

from dependency_injector.wiring import Provide, inject
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from adapters.keys import SigningKeySet
from entrypoints.container import Container

router = APIRouter(prefix="/.well-known", tags=["discovery"])

# Short enough that a newly rotated key reaches verifiers well before it signs.
CACHE = {"Cache-Control": "public, max-age=300"}


@router.get("/jwks.json", response_model=dict[str, Any])
@inject
def jwks(keys: Annotated[SigningKeySet, Depends(Provide[Container.keys])]) -> JSONResponse:
    return JSONResponse(keys.public_jwks(), headers=CACHE, media_type="application/jwk-set+json")
