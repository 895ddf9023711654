"""POST /oauth/revoke (RFC 7009) and POST /oauth/introspect (RFC 7662)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Api
from tests.e2e.oauth_requests import (
    assert_oauth_error,
    basic,
    claims,
    confidential_grant,
    password_grant,
    post,
    refresh_grant,
    service_client,
)

# -- revocation --------------------------------------------------------------------------


def test_revoking_a_refresh_token_ends_its_session(any_api: Api) -> None:
    any_api.signup()
    pair = password_grant(any_api)
    # Cached as live now: the revocation must reach the cache, not only the table.
    assert any_api.me(pair["access_token"]).status_code == 200

    response = post(any_api, "revoke", token=pair["refresh_token"], token_type_hint="refresh_token")

    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["cache-control"] == "no-store"
    assert_oauth_error(refresh_grant(any_api, pair["refresh_token"]), 400, "invalid_grant")
    assert any_api.me(pair["access_token"]).status_code == 401


def test_revoking_an_access_token_ends_its_session_too(api: Api) -> None:
    api.signup()
    pair = password_grant(api)
    other = password_grant(api)

    assert post(api, "revoke", token=pair["access_token"]).status_code == 200

    assert api.me(pair["access_token"]).status_code == 401
    assert_oauth_error(refresh_grant(api, pair["refresh_token"]), 400, "invalid_grant")
    assert api.me(other["access_token"]).status_code == 200  # only that session


@pytest.mark.parametrize("hint", [None, "access_token", "refresh_token", "unknown_kind"])
def test_revoking_an_unknown_token_answers_200_all_the_same(api: Api, hint: str | None) -> None:
    api.signup()
    pair = password_grant(api)
    hinted = {"token_type_hint": hint} if hint else {}

    for token in ("no-such-token", "a" * 9000):  # over 8 KiB: no token of ours
        assert post(api, "revoke", token=token, **hinted).status_code == 200
    assert api.me(pair["access_token"]).status_code == 200


def test_a_client_cannot_revoke_a_token_issued_to_another_client(api: Api) -> None:
    api.signup()
    pair = password_grant(api, client_id="my-spa")

    assert post(api, "revoke", token=pair["refresh_token"], client_id="other").status_code == 200
    assert api.me(pair["access_token"]).status_code == 200


def test_revocation_with_a_wrong_client_secret_is_invalid_client_and_revokes_nothing(
    api: Api,
) -> None:
    api.signup()
    pair = password_grant(api)
    client_id, _ = service_client(api)

    response = post(api, "revoke", basic(client_id, "wrong"), token=pair["refresh_token"])

    assert_oauth_error(response, 401, "invalid_client")
    assert api.me(pair["access_token"]).status_code == 200


def test_revocation_without_a_token_is_invalid_request(api: Api) -> None:
    assert_oauth_error(post(api, "revoke", token_type_hint="refresh_token"), 400, "invalid_request")


# -- introspection -----------------------------------------------------------------------


def test_a_live_access_token_introspects_to_its_full_claim_set(any_api: Api) -> None:
    any_api.signup()
    pair = password_grant(any_api, client_id="my-spa")
    credentials = basic(*service_client(any_api))

    response = post(any_api, "introspect", credentials, token=pair["access_token"])

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    jwt = claims(pair["access_token"])
    assert response.json() == {
        "active": True,
        "sub": jwt["sub"],
        "sid": jwt["sid"],
        "exp": jwt["exp"],
        "iat": jwt["iat"],
        "iss": jwt["iss"],
        "aud": jwt["aud"],
        "token_type": "access_token",
        "client_id": "my-spa",
    }


def test_a_live_refresh_token_introspects_as_a_refresh_token_of_its_session(api: Api) -> None:
    user = api.signup()
    pair = password_grant(api)
    credentials = basic(*service_client(api))

    body = post(api, "introspect", credentials, token=pair["refresh_token"]).json()

    assert body["active"] is True
    assert body["token_type"] == "refresh_token"
    assert (body["sub"], body["sid"]) == (user["id"], pair["session_id"])
    assert body["exp"] - body["iat"] == pair["refresh_token_expires_in"]
    assert body["iss"] == body["aud"] == "http://127.0.0.1:8000"
    assert body["client_id"] == "latchkey"


def test_an_access_token_past_its_exp_is_inactive_within_the_leeway_too(api: Api) -> None:
    # The leeway forgives other clocks; introspection judges our own token on
    # our own clock (RFC 7662 2.2: active only before its expiration time).
    api.signup()
    pair = password_grant(api)
    credentials = basic(*service_client(api))
    api.clock.advance(900 + 5)  # past exp, within the 10 s leeway

    body = post(api, "introspect", credentials, token=pair["access_token"]).json()

    assert body == {"active": False}


def test_anything_not_live_is_active_false_and_nothing_else(any_api: Api) -> None:
    api = any_api
    api.signup()
    credentials = basic(*service_client(api))
    spent = password_grant(api)
    refresh_grant(api, spent["refresh_token"])
    expired = password_grant(api)
    logged_out = password_grant(api)
    api.logout(logged_out["access_token"])
    api.clock.advance(900 + 11)

    for token in (
        spent["refresh_token"],  # rotated: no longer the session's token
        expired["access_token"],
        logged_out["access_token"],
        logged_out["refresh_token"],
        "garbage",
        "a.b.c",
        "a" * 9000,  # over 8 KiB: RFC 7662 2.2, a token that does not exist
    ):
        response = post(api, "introspect", credentials, token=token)
        assert response.status_code == 200
        assert response.json() == {"active": False}, token[:8]


def test_introspection_needs_a_registered_client_authenticated_with_http_basic(
    api: Api,
) -> None:
    api.signup()
    pair = password_grant(api)
    client_id, secret = service_client(api)
    api.container.manage_clients().create("another")
    deleted_id, deleted_secret = service_client(api, "retired")
    api.container.manage_clients().delete(deleted_id)

    for headers, form in [
        (None, {}),
        (None, {"client_id": client_id}),
        (basic(client_id, "wrong"), {}),
        (basic(deleted_id, deleted_secret), {}),
        ({"Authorization": f"Bearer {pair['access_token']}"}, {}),
    ]:
        response = post(api, "introspect", headers, token=pair["access_token"], **form)
        assert_oauth_error(response, 401, "invalid_client")
        assert response.headers["www-authenticate"] == 'Basic realm="latchkey"'
    assert post(api, "introspect", basic(client_id, secret), token="x").status_code == 200


def test_introspection_without_a_token_is_invalid_request(api: Api) -> None:
    credentials = basic(*service_client(api))
    assert_oauth_error(post(api, "introspect", credentials), 400, "invalid_request")


def test_a_confidential_clients_token_is_revoked_only_by_that_client(api: Api) -> None:
    api.signup()
    granted, credentials = confidential_grant(api)
    assert post(api, "revoke", token=granted["refresh_token"]).status_code == 200
    assert api.me(granted["access_token"]).status_code == 200
    revoked = post(api, "revoke", credentials, token=granted["refresh_token"])
    assert revoked.status_code == 200
    assert api.me(granted["access_token"]).status_code == 401


def test_introspection_checks_its_form_as_the_other_oauth_endpoints_do(api: Api) -> None:
    # /oauth/introspect reads its form itself (entrypoints/http/oauth.py): the
    # same rules as the endpoints whose form FastAPI reads, in the same order.
    api.signup()
    access = password_grant(api)["access_token"]
    credentials = basic(*service_client(api))

    def sent(
        body: str,
        headers: dict[str, str] | None = None,
        form: bool = True,
        url: str = "/oauth/introspect",
    ) -> Any:
        content_type = "application/x-www-form-urlencoded" if form else "application/json"
        return api.client.post(
            url, content=body, headers={"Content-Type": content_type, **(headers or {})}
        )

    # The body's media type first, even without credentials; then the client; then the fields.
    assert_oauth_error(sent(f"token={access}", form=False), 400, "invalid_request")
    assert_oauth_error(sent(f"token={access}", credentials, form=False), 400, "invalid_request")
    assert_oauth_error(sent(""), 401, "invalid_client")
    for body in (
        "",
        "token=",  # a parameter without a value is absent (RFC 6749 3.1)
        f"token={access}&token={access}",
        f"token={access}&client_secret=s",
        f"token={access}&client_secret=s&client_secret=",  # a secret, then an empty one
        f"token={access}&client_id=other&client_id=",  # a client id, then an empty one
        f"token={access}&token=",
        f"token={access}&client_id=%01",
    ):
        assert_oauth_error(sent(body, credentials), 400, "invalid_request")

    answer = sent(f"token={access}&token_type_hint=access_token&unknown=1", credentials)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.json()["active"] is True
    assert set(answer.json()) == {
        "active",
        "sub",
        "sid",
        "exp",
        "iat",
        "iss",
        "aud",
        "token_type",
        "client_id",
    }
    assert sent("token=unknown", credentials).json() == {"active": False}

    # Decoded as any form is: percent escapes, empty and value-less fields.
    escaped = "".join(f"%{byte:02X}" for byte in access.encode())
    for body in (f"token={escaped}", f"&&token={access}&flag&=x", f"token={access}" + "&" * 1200):
        assert sent(body, credentials).json()["active"] is True, body
    too_many = "&".join(f"f{i}=1" for i in range(1001))
    for url in ("/oauth/introspect", "/oauth/revoke"):  # the latter's form read by FastAPI
        too_many_fields = sent(f"{too_many}&token={access}", credentials, url=url)
        assert_oauth_error(too_many_fields, 400, "invalid_request")
