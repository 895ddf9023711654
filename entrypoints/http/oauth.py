"""The OAuth 2 endpoints: token (RFC 6749), revocation (RFC 7009), introspection (RFC 7662).

Bodies are form-encoded; errors take the RFC 6749 shape (oauth_errors.py).
"""

# No `from __future__ import annotations` here: dependency-injector reads the
# Provide markers inside Annotated at import time, and strings would hide them.
from collections import Counter
from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import parse_qsl, unquote_plus

from dependency_injector.wiring import inject
from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from application.clients import PresentedClient, presented_client
from application.oauth import ExchangeGrant, GrantRequest, RevokeToken
from domain.errors import InvalidClient, InvalidRequest
from entrypoints.container import Container
from entrypoints.http.headers import device_name
from entrypoints.http.oauth_errors import NO_STORE
from entrypoints.http.oauth_schemas import (
    IntrospectionResponse,
    OAuthError,
    PresentedTokenForm,
    TokenForm,
)
from entrypoints.http.offload import answer, with_hashing
from entrypoints.http.provided import Provided, container_of
from entrypoints.http.request_only import request_only
from entrypoints.http.responses import json_response
from entrypoints.http.schemas import TokenPairResponse
from entrypoints.http.throttling import client_ip

FORM_URLENCODED = "application/x-www-form-urlencoded"
MAX_FIELDS = 1000  # Starlette's bound for a form
_OAUTH_ERROR = {"model": OAuthError, "content": {"application/json": {}}}

router = APIRouter(
    prefix="/oauth",
    tags=["oauth"],
    responses={
        "4XX": {**_OAUTH_ERROR, "description": "RFC 6749 error"},
        "503": {**_OAUTH_ERROR, "description": "temporarily_unavailable; retry after Retry-After"},
    },
)

client_basic = HTTPBasic(
    auto_error=False,
    scheme_name="ClientBasic",
    description="A service client's client_id and secret (`latchkey clients create`)",
)
ClientCredentials = Annotated[HTTPBasicCredentials | None, Depends(client_basic)]


async def required_client(credentials: ClientCredentials) -> HTTPBasicCredentials:
    # A dependency, so it is checked before the body: without credentials the
    # answer is 401, whatever else is wrong with the request.
    if credentials is None:
        raise InvalidClient("client authentication required")
    return credentials


# Appended to the Basic requirement: "or no authentication at all" (public clients).
OPTIONAL_CLIENT_AUTH: dict[str, Any] = {"security": [{}]}


# Every parameter of the three endpoints; others are ignored (RFC 6749 3.1).
PARAMETERS = (
    "grant_type",
    "username",
    "password",
    "refresh_token",
    "scope",
    "client_id",
    "client_secret",
    "token",
    "token_type_hint",
)


async def oauth_form(request: Request) -> None:
    """RFC 6749 3.1-3.2: a form-encoded body, no parameter twice; client secrets only in Basic.

    A parameter without a value counts as absent, as FastAPI reads it.
    """
    _require_form_encoding(request)
    # Already parsed by FastAPI: its cached copy.
    _check_parameters((await request.form()).multi_items())


def _require_form_encoding(request: Request) -> None:
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type != FORM_URLENCODED:
        raise InvalidRequest(f"the body must be {FORM_URLENCODED}")


def _check_parameters(fields: Sequence[tuple[str, str | UploadFile]]) -> None:
    # A parameter without a value is absent, so empty copies alone repeat
    # nothing; beside a value they do: FastAPI keeps the last one, and
    # `client_id=a&client_id=` would read as no client_id at all.
    given = Counter(name for name, _ in fields)
    valued = {name for name, value in fields if value}
    for name in PARAMETERS:
        if given[name] > 1 and name in valued:
            raise InvalidRequest(f"{name} is repeated")
    if any(name == "client_secret" and value for name, value in fields):
        raise InvalidRequest("client_secret belongs in HTTP Basic authentication")


async def _parsed_form(request: Request) -> list[tuple[str, str | UploadFile]]:
    """The body read as Starlette reads a form-encoded one (each name and value
    percent-decoded as UTF-8 from Latin-1 text, `&` between fields, empty
    chunks skipped, at most as many fields), by the standard library's parser:
    python-multipart's, behind `request.form()`, was a sixth of what an
    introspection costs."""
    # Unbounded here (the body is at most 64 KiB): parse_qsl's own limit would
    # count the `&`s, empty chunks included, where Starlette counts fields.
    text = (await request.body()).decode("latin-1")
    fields: list[tuple[str, str | UploadFile]] = [*parse_qsl(text, keep_blank_values=True)]
    if len(fields) > MAX_FIELDS:
        raise InvalidRequest(f"the body has more than {MAX_FIELDS} fields")
    return fields


def _client(
    credentials: HTTPBasicCredentials | None, client_id: str | None
) -> PresentedClient | None:
    basic = None
    if credentials is not None:
        # RFC 6749 2.3.1: both halves are form-encoded before Basic encoding.
        basic = (unquote_plus(credentials.username), unquote_plus(credentials.password))
    return presented_client(basic, client_id)


# Introspection is the hot OAuth endpoint (a resource server may ask on every
# request): a request-only route, tried first (entrypoints/http/app.py). It
# reads its form and credentials itself: as FastAPI dependencies and through
# `@inject` they were half of its cost (measured). The operation is documented
# as those dependencies would document it.
INTROSPECT_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            FORM_URLENCODED: {"schema": {"$ref": "#/components/schemas/PresentedTokenForm"}}
        },
    },
    "security": [{client_basic.scheme_name: []}],
}


@request_only(
    router,
    "/introspect",
    methods=["POST"],
    response_model=IntrospectionResponse,
    response_model_exclude_none=True,
    openapi_extra=INTROSPECT_DOC,
)
async def introspect(request: Request) -> Response:
    """RFC 7662, for service clients (HTTP Basic): `{"active": false}` for any token not live."""
    # In the order FastAPI would check them as dependencies and body.
    _require_form_encoding(request)
    parsed = await _parsed_form(request)
    _check_parameters(parsed)
    credentials = await required_client(await client_basic(request))
    form = _presented_token(parsed)
    client = _client(credentials, form.client_id)
    use_case = container_of(request).introspect()
    info = await answer(use_case, client, form.token, form.token_type_hint)
    return json_response(IntrospectionResponse.of(info), headers=NO_STORE, exclude_none=True)


def _presented_token(fields: Sequence[tuple[str, str | UploadFile]]) -> PresentedTokenForm:
    """The checked form (no parameter with a value twice), read as FastAPI reads
    one: a parameter without a value is absent."""
    try:
        return PresentedTokenForm.model_validate({name: value for name, value in fields if value})
    except ValidationError as error:
        # The same errors as FastAPI's for a body it validates.
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors()]
        ) from None


@router.post(
    "/token",
    response_model=TokenPairResponse,
    dependencies=[Depends(oauth_form)],
    openapi_extra=OPTIONAL_CLIENT_AUTH,
)
@inject
async def token(
    form: Annotated[TokenForm, Form()],
    credentials: ClientCredentials,
    request: Request,
    response: Response,
    use_case: Annotated[ExchangeGrant, Depends(Provided[Container.exchange_grant])],
) -> TokenPairResponse:
    """RFC 6749 token endpoint: `grant_type=password` (`username` is the email) or
    `grant_type=refresh_token`; a public client may name itself with `client_id`."""
    grant = GrantRequest(
        grant_type=form.grant_type,
        client=_client(credentials, form.client_id),
        username=form.username,
        password=form.password,
        refresh_token=form.refresh_token,
        device_name=device_name(request),
        client_ip=client_ip(request),
    )
    # The password grant hashes: the threads kept for that; anything else, the default ones.
    if form.grant_type == "password":
        pair = await with_hashing(request, use_case, grant)
    else:
        pair = await run_in_threadpool(use_case, grant)
    response.headers.update(NO_STORE)
    return TokenPairResponse.of(pair)


@router.post(
    "/revoke",
    status_code=200,
    response_class=Response,
    responses={200: {"description": "Revoked, or nothing to revoke: the body is empty"}},
    dependencies=[Depends(oauth_form)],
    openapi_extra=OPTIONAL_CLIENT_AUTH,
)
@inject
def revoke(
    form: Annotated[PresentedTokenForm, Form()],
    credentials: ClientCredentials,
    use_case: Annotated[RevokeToken, Depends(Provided[Container.revoke_token])],
) -> Response:
    """RFC 7009: ends the session of a refresh or access token; 200 whatever the token was."""
    use_case(_client(credentials, form.client_id), form.token, form.token_type_hint)
    return Response(status_code=200, headers=NO_STORE)
