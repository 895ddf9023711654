"""The bearer-token dependency of protected routes."""

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer, OAuth2PasswordBearer
from fastapi.security.utils import get_authorization_scheme_param

from application.authenticate import Principal
from domain.errors import InvalidToken
from entrypoints.http.offload import answer
from entrypoints.http.provided import container_of
from entrypoints.http.request_only import routed

E = TypeVar("E", bound=Callable[..., Any])

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
    known: Principal | None = getattr(request.state, _PRINCIPAL, None)
    if known is not None:  # a BearerFirstRoute's, found before the body was read
        return known
    scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
    if scheme.lower() != "bearer" or not token:
        raise InvalidToken("missing bearer token")
    # Usually answered from the caches, on the event loop; else in a thread.
    return await answer(container_of(request).authenticate(), token)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
_PRINCIPAL = "latchkey_principal"


class BearerFirstRoute(APIRoute):
    """A protected route with a body: the token is checked before the body is read.

    FastAPI decodes a JSON body before it resolves any dependency, so a caller
    without a token who sent malformed JSON got a 422 instead of the 401 (and
    its `WWW-Authenticate` challenge) that tells it to authenticate first.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def authenticated_first(request: Request) -> Response:
            setattr(request.state, _PRINCIPAL, await current_principal(request))
            return await handler(request)

        return authenticated_first


def protected(
    router: APIRouter, path: str, *, methods: list[str], **options: Any
) -> Callable[[E], E]:
    """Like `@router.post(...)`, for a route with a body that needs a bearer token."""
    return routed(
        router,
        path,
        methods=methods,
        route_class=BearerFirstRoute,
        openapi_extra=BEARER_AUTH,
        **options,
    )


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
