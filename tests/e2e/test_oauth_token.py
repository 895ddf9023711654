"""POST /oauth/token (RFC 6749): the password and refresh_token grants, their
errors, and Swagger UI's Authorize button, which logs in through it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dependency_injector import providers

from domain.errors import ServiceUnavailable
from tests.e2e.conftest import PASSWORD, Api
from tests.e2e.oauth_requests import (
    EMAIL,
    TOKEN_RESPONSE_KEYS,
    assert_oauth_error,
    basic,
    claims,
    confidential_grant,
    password_grant,
    post,
    refresh_grant,
    service_client,
)


def test_the_password_grant_answers_a_token_response_that_must_not_be_cached(
    any_api: Api,
) -> None:
    user = any_api.signup()

    response = post(any_api, "token", grant_type="password", username=EMAIL, password=PASSWORD)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert set(body) == TOKEN_RESPONSE_KEYS
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert claims(body["access_token"])["sub"] == user["id"]
    assert any_api.me(body["access_token"]).json()["id"] == user["id"]


def test_the_client_id_named_at_login_is_in_every_access_token_of_the_session(
    any_api: Api,
) -> None:
    any_api.signup()
    first = password_grant(any_api, client_id="my-spa")
    second = refresh_grant(any_api, first["refresh_token"]).json()
    third = refresh_grant(any_api, second["refresh_token"], client_id="my-spa").json()

    for pair in (first, second, third):
        assert claims(pair["access_token"])["client_id"] == "my-spa"
        assert pair["session_id"] == first["session_id"]
    default = password_grant(any_api)
    assert claims(default["access_token"])["client_id"] == "latchkey"


def test_the_refresh_grant_follows_the_rotation_grace_and_reuse_rules(any_api: Api) -> None:
    any_api.signup()
    first = password_grant(any_api)
    second = refresh_grant(any_api, first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"]

    any_api.clock.advance(5)
    retry = refresh_grant(any_api, first["refresh_token"])
    assert retry.status_code == 200
    assert retry.json()["refresh_token"] == second["refresh_token"]

    any_api.clock.advance(6)
    assert_oauth_error(refresh_grant(any_api, first["refresh_token"]), 400, "invalid_grant")
    # Reuse revoked the whole session, the newest token included.
    assert_oauth_error(refresh_grant(any_api, second["refresh_token"]), 400, "invalid_grant")
    assert any_api.me(second["access_token"]).status_code == 401


def test_tokens_of_the_json_api_and_of_the_token_endpoint_are_interchangeable(api: Api) -> None:
    api.signup()
    pair = api.login()
    via_oauth = refresh_grant(api, pair["refresh_token"]).json()
    via_json = api.refresh(via_oauth["refresh_token"])

    assert via_json.status_code == 200
    assert via_json.json()["session_id"] == pair["session_id"]


def test_a_refresh_grant_naming_another_client_is_invalid_grant(api: Api) -> None:
    api.signup()
    pair = password_grant(api, client_id="my-spa")

    assert_oauth_error(
        refresh_grant(api, pair["refresh_token"], client_id="other-app"), 400, "invalid_grant"
    )
    assert refresh_grant(api, pair["refresh_token"], client_id="my-spa").status_code == 200


def test_a_wrong_password_and_an_unknown_user_are_the_same_invalid_grant(api: Api) -> None:
    api.signup()
    wrong = post(api, "token", grant_type="password", username=EMAIL, password=PASSWORD + "x")
    unknown = post(
        api, "token", grant_type="password", username="nobody@example.com", password=PASSWORD
    )

    assert_oauth_error(wrong, 400, "invalid_grant")
    assert wrong.json() == unknown.json()
    assert set(wrong.headers) == set(unknown.headers)


FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        ("username=ada%40example.com&password=x", FORM),
        ("grant_type=password&username=ada%40example.com", FORM),
        ("grant_type=refresh_token", FORM),
        ("grant_type=password&grant_type=password&username=a%40b.c&password=x", FORM),
        ("grant_type=refresh_token&refresh_token=a&refresh_token=b", FORM),
        ("grant_type=password&username=a%40b.c&password=x&client_secret=s3cret", FORM),
        ("grant_type=password&username=a%40b.c&password=x&client_secret=s&client_secret=", FORM),
        ("grant_type=password&username=a%40b.c&password=x&client_id=a&client_id=", FORM),
        ("grant_type=password&username=a%40b.c&password=" + "x" * 1025, FORM),
        ("grant_type=password&username=a%40b.c&password=x&client_id=na%C3%AFve", FORM),
        ('{"grant_type": "password", "username": "a@b.c", "password": "x"}', None),
        ("grant_type=password&username=a%40b.c&password=x", {"content-type": "text/plain"}),
        ("not a form at all", FORM),
    ],
    ids=[
        "no grant_type",
        "no password",
        "no refresh_token",
        "repeated grant_type",
        "repeated refresh_token",
        "secret in the body",
        "secret, then an empty one",
        "client_id, then an empty one",
        "overlong password",
        "non-ascii client_id",
        "json",
        "text/plain",
        "garbage",
    ],
)
def test_a_malformed_request_is_invalid_request(
    api: Api, content: str, headers: dict[str, str] | None
) -> None:
    if headers is None:
        response = api.client.post("/oauth/token", content=content.encode(), headers={})
    else:
        response = api.client.post("/oauth/token", content=content.encode(), headers=headers)
    assert_oauth_error(response, 400, "invalid_request")


@pytest.mark.parametrize("grant_type", ["client_credentials", "authorization_code", "implicit"])
def test_another_grant_type_is_unsupported_grant_type(api: Api, grant_type: str) -> None:
    response = post(api, "token", grant_type=grant_type, username=EMAIL, password=PASSWORD)
    assert_oauth_error(response, 400, "unsupported_grant_type")


def test_a_failed_client_authentication_is_a_401_invalid_client_with_a_basic_challenge(
    api: Api,
) -> None:
    api.signup()
    client_id, _ = service_client(api)
    attempts: list[dict[str, Any]] = [
        {"headers": basic(client_id, "not the secret")},
        {"headers": basic("no-such-client", "any secret")},
        {"headers": {"Authorization": "Basic not-base64!"}},
        {"form": {"client_id": client_id}},  # a registered client must authenticate
    ]

    for attempt in attempts:
        response = post(
            api,
            "token",
            attempt.get("headers"),
            grant_type="password",
            username=EMAIL,
            password=PASSWORD,
            **attempt.get("form", {}),
        )
        assert_oauth_error(response, 401, "invalid_client")
        assert response.headers["www-authenticate"].startswith("Basic")


def test_a_service_client_may_log_in_a_user_with_its_own_credentials(api: Api) -> None:
    api.signup()
    client_id, secret = service_client(api)

    response = post(
        api,
        "token",
        basic(client_id, secret),
        grant_type="password",
        username=EMAIL,
        password=PASSWORD,
    )

    assert response.status_code == 200, response.text
    assert claims(response.json()["access_token"])["client_id"] == client_id


@pytest.mark.parametrize("settings_overrides", [{"login_max_failures": 2}])
def test_repeated_failed_logins_are_throttled_with_429_and_retry_after(api: Api) -> None:
    api.signup()
    for _ in range(2):
        post(api, "token", grant_type="password", username=EMAIL, password="wrong password!")

    response = post(api, "token", grant_type="password", username=EMAIL, password=PASSWORD)

    assert_oauth_error(response, 429, "slow_down")
    assert int(response.headers["retry-after"]) >= 1


def test_every_error_under_oauth_has_the_rfc6749_shape(api: Api) -> None:
    assert_oauth_error(api.client.get("/oauth/token"), 405, "invalid_request")
    assert_oauth_error(api.client.post("/oauth/no-such-endpoint"), 404, "invalid_request")
    assert api.client.get("/v1/no-such-endpoint").json()["code"] == "not_found"  # elsewhere


def test_swagger_ui_authorize_logs_in_through_the_token_endpoint(api: Api) -> None:
    openapi = api.client.get("/openapi.json").json()
    schemes = openapi["components"]["securitySchemes"]
    [password_flow] = [s for s in schemes.values() if s["type"] == "oauth2"]
    assert password_flow["flows"]["password"]["tokenUrl"] == "/oauth/token"
    me = openapi["paths"]["/v1/users/me"]["get"]
    assert any(name in requirement for requirement in me["security"] for name in schemes)

    # What Swagger UI sends when no client id or secret is filled in.
    api.signup()
    response = api.client.post(
        "/oauth/token",
        data={"grant_type": "password", "username": EMAIL, "password": PASSWORD, "scope": ""},
        headers={"Authorization": "Basic Og=="},
    )

    assert response.status_code == 200, response.text
    assert api.me(response.json()["access_token"]).status_code == 200


def test_the_oauth_endpoints_document_their_own_error_shape(api: Api) -> None:
    openapi = api.client.get("/openapi.json").json()
    for path in ("/oauth/token", "/oauth/revoke", "/oauth/introspect"):
        errors = openapi["paths"][path]["post"]["responses"]["4XX"]["content"]
        assert list(errors) == ["application/json"]
        assert errors["application/json"]["schema"]["$ref"].endswith("/OAuthError")


def test_an_oversized_body_is_refused_in_the_rfc6749_shape_too(api: Api) -> None:
    body = b"grant_type=password&username=a%40b.c&password=" + b"x" * 70_000

    def streamed() -> Iterator[bytes]:
        yield body[:40_000]
        yield body[40_000:]

    declared = api.client.post("/oauth/token", content=body, headers=FORM)
    chunked = api.client.post("/oauth/token", content=streamed(), headers=FORM)

    assert_oauth_error(declared, 413, "invalid_request")
    assert_oauth_error(chunked, 413, "invalid_request")


def test_a_database_outage_is_temporarily_unavailable_with_retry_after(api: Api) -> None:
    api.signup()

    def unreachable(*, autocommit: bool = False) -> None:
        raise ServiceUnavailable("the database is unavailable")

    with api.container.uow.override(providers.Callable(unreachable)):
        response = post(api, "token", grant_type="password", username=EMAIL, password=PASSWORD)

    assert_oauth_error(response, 503, "temporarily_unavailable")
    assert int(response.headers["retry-after"]) >= 1


def test_unknown_parameters_and_parameters_without_a_value_are_ignored(api: Api) -> None:
    api.signup()
    content = (
        "grant_type=password&username=ada%40example.com&password="
        + PASSWORD.replace(" ", "+")
        + "&extension=1&extension=2&scope=&scope=&client_id="
    )

    response = api.client.post("/oauth/token", content=content.encode(), headers=FORM)

    assert response.status_code == 200, response.text


def test_a_confidential_clients_refresh_token_is_worthless_without_its_credentials(
    api: Api,
) -> None:
    api.signup()
    granted, credentials = confidential_grant(api)
    token = granted["refresh_token"]
    assert api.refresh(token).status_code == 401
    anonymous = refresh_grant(api, token)
    assert anonymous.status_code == 400
    assert anonymous.json()["error"] == "invalid_grant"
    with_credentials = post(
        api, "token", credentials, grant_type="refresh_token", refresh_token=token
    )
    assert with_credentials.status_code == 200, with_credentials.text


def test_a_deleted_clients_sessions_end_and_nobody_can_take_its_id(any_api: Api) -> None:
    # Deleting a client whose secret leaked must not turn its refresh tokens
    # into bearer tokens that need no secret, nor free its id for a public client.
    api = any_api
    api.signup()
    granted, credentials = confidential_grant(api)
    client_id = claims(granted["access_token"])["client_id"]
    assert api.me(granted["access_token"]).status_code == 200  # cached as live

    api.container.manage_clients().delete(client_id)

    assert api.refresh(granted["refresh_token"]).status_code == 401
    assert api.me(granted["access_token"]).status_code == 401
    token = granted["refresh_token"]
    old_secret = post(api, "token", credentials, grant_type="refresh_token", refresh_token=token)
    assert_oauth_error(old_secret, 401, "invalid_client")
    as_public = post(
        api, "token", grant_type="password", username=EMAIL, password=PASSWORD, client_id=client_id
    )
    assert_oauth_error(as_public, 401, "invalid_client")
