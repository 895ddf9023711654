"""The bearer-token dependency of protected routes."""

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.security import HTTPBearer, OAuth2PasswordBearer
from fastapi.security.utils import get_authorization_scheme_param

from application.authenticate import Principal
from domain.errors import InvalidToken
from entrypoints.http.offload import answer
from entrypoints.http.provided import container_of

# Two ways to the same `Authorization: Bearer` header, so that /docs offers
# both: log in with an email and password (Swagger UI calls /oauth/token), or
# paste an access token obtained elsewhere.
password_login = OAuth2PasswordBearer(
    tokenUrl="/oauth/token",
    auto_error=False,
    description="Log in with your email (as username) and password",
)
pasted_token = HTTPBearer(auto_error=False, description="An access token from login or refresh")
_SCHEMES = (password_login, pasted_token)

# What a protected operation declares in the OpenAPI document: either scheme.
BEARER_AUTH: dict[str, Any] = {"security": [{scheme.scheme_name: []} for scheme in _SCHEMES]}


async def current_principal(request: Request) -> Principal:
    # The header is read here rather than through the two schemes as
    # sub-dependencies: each dependency FastAPI resolves costs every protected
    # request about 25 µs, a quarter of all /v1/users/me costs (measured).
    # Routes declare the schemes for /docs with `openapi_extra=BEARER_AUTH`.
    scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
    if scheme.lower() != "bearer" or not token:
        raise InvalidToken("missing bearer token")
    # Usually answered from the caches, on the event loop; else in a thread.
    return await answer(container_of(request).authenticate(), token)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def document_bearer_schemes(app: FastAPI) -> None:
    """Adds the two schemes to the OpenAPI components, which FastAPI only does for
    schemes that are dependencies."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
            for scheme in _SCHEMES:
                schemes[scheme.scheme_name] = jsonable_encoder(
                    scheme.model, by_alias=True, exclude_none=True
                )
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
