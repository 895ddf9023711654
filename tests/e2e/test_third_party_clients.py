"""Standard client libraries, unchanged, against a real `latchkey serve` process:
PyJWT verifies our access tokens offline from the JWKS across a key rotation,
and Authlib's OAuth 2 client logs in, refreshes and revokes through /oauth/."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from authlib.integrations.httpx_client import (  # type: ignore[import-untyped]
    OAuth2Client,
    OAuthError,
)

from adapters.key_store import RELOAD_INTERVAL_SECONDS
from tests.e2e.conftest import PASSWORD
from tests.e2e.test_cli import run
from tests.server import running_server


@dataclass
class Server:
    base_url: str
    cli_env: dict[str, str]  # the `latchkey` command line, on the server's database

    def signed_up(self, email: str) -> None:
        body = {"email": email, "password": PASSWORD}
        assert httpx.post(f"{self.base_url}/v1/auth/signup", json=body).status_code == 201

    def access_token(self, email: str) -> str:
        body = {"email": email, "password": PASSWORD}
        token: str = httpx.post(f"{self.base_url}/v1/auth/login", json=body).json()["access_token"]
        return token


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("server")
    data_dir, database_url = root / "var", f"sqlite:///{root / 'server.db'}"
    cli_env = {k: v for k, v in os.environ.items() if not k.startswith("LATCHKEY_")}
    cli_env |= {"LATCHKEY_DATA_DIR": str(data_dir), "LATCHKEY_DATABASE_URL": database_url}
    with running_server(data_dir, database_url) as base_url:
        yield Server(base_url, cli_env)


def verify_offline(jwks: jwt.PyJWKClient, token: str, issuer: str) -> dict[str, Any]:
    """What a resource server does (docs/integrating.md)."""
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"
    key = jwks.get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(
        token,
        key.key,
        algorithms=["ES256"],  # pinned: never the algorithm the token names
        audience="latchkey",
        issuer=issuer,
        options={"require": ["exp", "iat", "iss", "aud", "sub", "sid"]},
    )
    return claims


def test_pyjwt_verifies_our_tokens_from_the_jwks_before_and_after_a_key_rotation_at_once(
    server: Server,
) -> None:
    # At once: PyJWT must fetch the JWKS again for the unknown kid (a rotation
    # published ahead reaches its cache before it signs: nothing to show here).
    server.signed_up("pyjwt@example.com")
    # A short cooldown so that the new key is fetched as soon as a token names it.
    jwks = jwt.PyJWKClient(f"{server.base_url}/.well-known/jwks.json", cooldown_duration=1)
    before = server.access_token("pyjwt@example.com")
    old_kid = jwt.get_unverified_header(before)["kid"]
    assert verify_offline(jwks, before, server.base_url)["client_id"] == "latchkey"

    rotated = run(server.cli_env, "keys", "rotate", "--now")
    assert rotated.returncode == 0, rotated.stderr
    deadline = time.monotonic() + RELOAD_INTERVAL_SECONDS + 10
    after = server.access_token("pyjwt@example.com")
    while jwt.get_unverified_header(after)["kid"] == old_kid and time.monotonic() < deadline:
        time.sleep(0.2)
        after = server.access_token("pyjwt@example.com")

    assert jwt.get_unverified_header(after)["kid"] != old_kid
    assert verify_offline(jwks, after, server.base_url)["sub"]
    assert verify_offline(jwks, before, server.base_url)["sub"]  # the old key stays published


def test_authlib_logs_in_with_the_password_grant_refreshes_and_revokes(server: Server) -> None:
    server.signed_up("authlib@example.com")
    metadata = httpx.get(f"{server.base_url}/.well-known/oauth-authorization-server").json()
    me = f"{server.base_url}/v1/users/me"

    with OAuth2Client(client_id="authlib-app", token_endpoint_auth_method="none") as client:
        token = client.fetch_token(
            metadata["token_endpoint"], username="authlib@example.com", password=PASSWORD
        )
        assert token["token_type"] == "Bearer"
        assert client.get(me).json()["email"] == "authlib@example.com"

        refreshed = client.refresh_token(metadata["token_endpoint"])
        assert refreshed["refresh_token"] != token["refresh_token"]
        assert refreshed["session_id"] == token["session_id"]
        claims = jwt.decode(refreshed["access_token"], options={"verify_signature": False})
        assert claims["client_id"] == "authlib-app"
        assert client.get(me).status_code == 200

        revoked = client.revoke_token(
            metadata["revocation_endpoint"],
            refreshed["refresh_token"],
            token_type_hint="refresh_token",
        )
        assert revoked.status_code == 200
        with pytest.raises(OAuthError) as refused:
            client.refresh_token(metadata["token_endpoint"])
        assert refused.value.error == "invalid_grant"


def test_authlib_reports_a_wrong_password_as_invalid_grant(server: Server) -> None:
    server.signed_up("wrong@example.com")
    token_endpoint = f"{server.base_url}/oauth/token"

    with (
        OAuth2Client(client_id="authlib-app", token_endpoint_auth_method="none") as client,
        pytest.raises(OAuthError) as refused,
    ):
        client.fetch_token(token_endpoint, username="wrong@example.com", password="nope!")
    assert refused.value.error == "invalid_grant"
