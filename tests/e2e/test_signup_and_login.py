"""Signing up and logging in over HTTP."""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.e2e.conftest import PASSWORD, Api
from tests.e2e.oauth_requests import TOKEN_RESPONSE_KEYS

PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}


def _segment(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def test_signup_returns_the_new_account_without_any_secret(api: Api) -> None:
    response = api.client.post(
        "/v1/auth/signup", json={"email": "Ada@Example.com", "password": PASSWORD}
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "email", "created_at"}
    assert body["email"].lower() == "ada@example.com"
    assert PASSWORD not in response.text


def test_signup_with_an_existing_email_in_another_case_is_email_taken(api: Api) -> None:
    api.signup("ada@example.com")
    response = api.client.post(
        "/v1/auth/signup", json={"email": "ADA@example.com", "password": PASSWORD}
    )
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert set(response.json()) == PROBLEM_KEYS
    assert response.json()["code"] == "email_taken"


def test_an_address_logs_in_as_it_was_typed_at_sign_up(api: Api) -> None:
    # Sign-up's validation spells an IDNA domain in Unicode and composes
    # accents; the address typed at sign-up must still log in.
    for typed in ("bob@xn--mnchen-3ya.de", "rene\u0301@example.com"):
        api.signup(typed)
        assert api.login(typed)["access_token"]


def test_another_spelling_of_a_registered_address_is_email_taken(api: Api) -> None:
    api.signup("bob@münchen.de")
    response = api.client.post(
        "/v1/auth/signup", json={"email": "bob@xn--mnchen-3ya.de", "password": PASSWORD}
    )
    assert response.status_code == 409
    assert response.json()["code"] == "email_taken"
    assert api.login("BOB@XN--MNCHEN-3YA.DE")["access_token"]


def test_signup_refuses_bad_input_with_the_rule_it_breaks(api: Api) -> None:
    cases = [
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": "a@example.com", "password": "short"}, "at least 12"),
        ({"email": "a@example.com", "password": "x" * 1025}, "1024"),
        ({"email": "a@example.com", "password": "password1234"}, "guess"),
        ({"email": "a@example.com"}, "password"),
    ]
    for body, reason in cases:
        response = api.client.post("/v1/auth/signup", json=body)
        assert response.status_code == 422, body
        problem = response.json()
        assert problem["code"] == "validation_error"
        assert reason in problem["detail"], (reason, problem["detail"])


def test_login_returns_a_token_pair_with_an_rfc9068_access_token(api: Api) -> None:
    user = api.signup()
    pair = api.login(device_name="laptop")
    assert set(pair) == TOKEN_RESPONSE_KEYS
    assert pair["token_type"] == "Bearer"
    assert pair["expires_in"] == 900
    assert pair["refresh_token_expires_in"] == 3600
    header = _segment(pair["access_token"], 0)
    claims = _segment(pair["access_token"], 1)
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    assert header["kid"]
    assert claims["sub"] == user["id"]
    assert claims["sid"] == pair["session_id"]
    assert claims["client_id"] == "latchkey"
    assert claims["iss"] == "http://127.0.0.1:8000"
    assert claims["aud"] == "latchkey"
    assert claims["exp"] - claims["iat"] == 900
    assert claims["jti"]
    assert pair["refresh_token"].count(".") == 0  # opaque, never a JWT


def test_unknown_email_and_wrong_password_look_the_same(api: Api) -> None:
    api.signup()
    wrong = api.client.post(
        "/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD + "x"}
    )
    unknown = api.client.post(
        "/v1/auth/login", json={"email": "nobody@example.com", "password": PASSWORD}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["code"] == "invalid_credentials"
    assert set(wrong.headers) == set(unknown.headers)


def test_passwords_are_checked_exactly_as_given(api: Api) -> None:
    password = "Ünïcødé pässwörd 🔑 " * 50  # about 1,000 characters, with a trailing space
    api.signup(password=password)
    api.login(password=password)
    for variant in (password.strip(), password.upper(), password[:-1] + "\t", password[:72]):
        response = api.client.post(
            "/v1/auth/login", json={"email": "ada@example.com", "password": variant}
        )
        assert response.status_code == 401, repr(variant[-5:])


def test_a_disabled_account_cannot_log_in_and_its_sessions_end(api: Api) -> None:
    api.signup()
    pair = api.login()
    assert api.me(pair["access_token"]).status_code == 200  # now cached as live
    api.container.manage_users().disable("ada@example.com")
    assert api.me(pair["access_token"]).status_code == 401
    assert api.refresh(pair["refresh_token"]).status_code == 401
    response = api.client.post(
        "/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert response.json()["code"] == "invalid_credentials"
    api.container.manage_users().enable("ada@example.com")
    api.login()


def test_token_pairs_from_login_and_refresh_are_never_cached(api: Api) -> None:
    # RFC 6749 §5.1: a response carrying tokens must not be stored by any cache.
    api.signup()
    login = api.client.post(
        "/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    refreshed = api.refresh(login.json()["refresh_token"])

    for response in (login, refreshed):
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["content-type"] == "application/json"
        assert set(response.json()) == TOKEN_RESPONSE_KEYS
