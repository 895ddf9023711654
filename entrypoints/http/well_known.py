"""Discovery documents: the JWKS that lets any service verify tokens offline, and
the RFC 8414 metadata that tells OAuth clients where everything is."""

# No `from __future__ import annotations` here: dependency-injector reads the
# Provide markers inside Annotated at import time, and strings would hide them.
from typing import Annotated, Any

from dependency_injector.wiring import inject
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from adapters.keys import KeySetProvider
from application.oauth import GRANT_TYPES
from entrypoints.container import JWKS_MAX_AGE_SECONDS, Container
from entrypoints.http.problems import PROBLEM_RESPONSES
from entrypoints.http.provided import Provided
from entrypoints.settings import Settings

router = APIRouter(prefix="/.well-known", tags=["discovery"], responses=PROBLEM_RESPONSES)

# A new key is published longer than this before it signs (container.py,
# signing_key_publication), so a copy cached within max-age holds it; after
# `keys rotate --now` verifiers rely on refetching for an unknown kid.
JWKS_CACHE = {"Cache-Control": f"public, max-age={JWKS_MAX_AGE_SECONDS}"}
METADATA_CACHE = {"Cache-Control": "public, max-age=3600"}


class JwkSetResponse(JSONResponse):
    media_type = "application/jwk-set+json"  # RFC 7517 8.5.1


@router.get("/jwks.json", response_model=dict[str, Any], response_class=JwkSetResponse)
@inject
def jwks(keys: Annotated[KeySetProvider, Depends(Provided[Container.keys])]) -> JwkSetResponse:
    """RFC 7517 key set: the public half of every key that may have signed a live token,
    and of the key published ahead that will sign next."""
    return JwkSetResponse(keys.current().public_jwks(), headers=JWKS_CACHE)


@router.get("/oauth-authorization-server", response_model=dict[str, Any])
@inject
def authorization_server_metadata(
    settings: Annotated[Settings, Depends(Provided[Container.settings])],
) -> JSONResponse:
    """RFC 8414 authorization server metadata, every URL built from LATCHKEY_ISSUER."""
    return JSONResponse(metadata(settings.issuer), headers=METADATA_CACHE)


def metadata(issuer: str) -> dict[str, object]:
    # The issuer exactly as configured (RFC 8414 3.3: identical to the `iss`
    # that verifiers compare); only the URLs built on it drop a final slash.
    base = issuer.rstrip("/")
    return {
        "issuer": issuer,
        "token_endpoint": f"{base}/oauth/token",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "introspection_endpoint": f"{base}/oauth/introspect",
        "grant_types_supported": list(GRANT_TYPES),
        # RFC 8414 requires this member. Its values are response_type values of
        # the authorization endpoint, which Latchkey does not have (neither of
        # its grants uses one), so the truthful list is empty; "none" would
        # claim an authorization endpoint that answers without a token.
        "response_types_supported": [],
        # A public client names itself with client_id ("none"); a service client
        # authenticates with HTTP Basic.
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
        "service_documentation": f"{base}/docs",
    }
