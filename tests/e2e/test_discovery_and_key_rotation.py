"""RFC 8414 metadata, the JWKS, and signing keys kept sealed in the database and rotated."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import pytest
import typer
from dependency_injector import providers
from sqlalchemy import select

from adapters.key_store import RELOAD_INTERVAL_SECONDS
from adapters.keys import generate_signing_key
from adapters.sql.migrate import upgrade
from adapters.sql.tables import signing_keys
from entrypoints.cli import prepare_database
from entrypoints.container import Container, signing_key_publication
from tests.e2e.conftest import Api, build_api, make_settings
from tests.e2e.oauth_requests import claims, header
from tests.fakes import FakeClock

RETENTION = timedelta(seconds=900 + 10 + 5)  # access TTL + leeway + reload interval


@pytest.mark.parametrize("settings_overrides", [{"issuer": "https://auth.example.com/"}])
def test_the_metadata_names_every_endpoint_under_the_issuer(api: Api) -> None:
    response = api.client.get("/.well-known/oauth-authorization-server")

    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=3600"
    base = "https://auth.example.com"
    assert response.json() == {
        # As configured, slash and all: verifiers compare `iss` to it exactly.
        "issuer": "https://auth.example.com/",
        "token_endpoint": f"{base}/oauth/token",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "introspection_endpoint": f"{base}/oauth/introspect",
        "grant_types_supported": ["password", "refresh_token"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
        "service_documentation": f"{base}/docs",
    }
    api.signup()
    assert claims(api.login()["access_token"])["iss"] == "https://auth.example.com/"


def test_the_jwks_holds_public_keys_only_and_may_be_cached(api: Api) -> None:
    response = api.client.get("/.well-known/jwks.json")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/jwk-set+json"
    assert response.headers["cache-control"] == "public, max-age=300"
    [key] = response.json()["keys"]
    assert key["alg"] == "ES256"
    assert key["use"] == "sig"
    assert "d" not in key


def test_a_new_key_is_published_before_it_signs_and_old_tokens_keep_working(
    any_api: Api,
) -> None:
    api = any_api
    api.signup()
    before = api.login()
    old_kid = header(before["access_token"])["kid"]
    # A verifier (or an HTTP cache) may keep a copy of the JWKS this long.
    cache_control = api.client.get("/.well-known/jwks.json").headers["cache-control"]
    max_age = int(cache_control.partition("max-age=")[2])

    new_kid = api.container.signing_keys().rotate().kid
    api.container.keys().reload()  # as every instance does within a few seconds

    assert jwks_kids(api) == {old_kid, new_kid}
    assert header(api.login()["access_token"])["kid"] == old_kid  # not signing yet
    # It signs once every copy cached before every instance published it has
    # expired, even by a clock ahead of this one by the leeway.
    publication = signing_key_publication(api.container.settings()).total_seconds()
    leeway = api.container.settings().clock_leeway
    assert publication > max_age + RELOAD_INTERVAL_SECONDS + leeway
    api.clock.advance(publication - leeway - 1)
    api.container.keys().reload()
    assert header(api.login()["access_token"])["kid"] == old_kid
    api.clock.advance(leeway + 1)
    api.container.keys().reload()
    after = api.login()
    assert header(after["access_token"])["kid"] == new_kid != old_kid
    assert api.me(before["access_token"]).status_code == 200
    assert api.me(after["access_token"]).status_code == 200

    api.clock.advance(RETENTION.total_seconds())
    api.container.keys().reload()
    assert jwks_kids(api) == {new_kid}
    [active, retired] = api.container.signing_keys().list()
    assert (active.kid, active.status) == (new_kid, "active")
    assert (retired.kid, retired.status) == (old_kid, "dropped")


def test_a_rotation_at_once_signs_with_the_new_key_at_the_next_reload(any_api: Api) -> None:
    api = any_api
    api.signup()
    before = api.login()

    new_kid = api.container.signing_keys().rotate(at_once=True).kid
    api.container.keys().reload()

    assert header(api.login()["access_token"])["kid"] == new_kid
    assert api.me(before["access_token"]).status_code == 200
    assert jwks_kids(api) == {header(before["access_token"])["kid"], new_kid}


def test_tokens_of_a_dropped_key_stop_verifying_at_the_next_reload(any_api: Api) -> None:
    # A key that leaked: whatever its tokens claim, they must stop working.
    api = any_api
    api.signup()
    before = api.login()
    assert api.me(before["access_token"]).status_code == 200  # now cached as verified

    new_kid = api.container.signing_keys().rotate(at_once=True, drop_older=True).kid
    api.container.keys().reload()

    assert api.me(before["access_token"]).status_code == 401
    assert jwks_kids(api) == {new_kid}
    assert api.me(api.refresh(before["refresh_token"]).json()["access_token"]).status_code == 200


def jwks_kids(api: Api) -> set[str]:
    return {k["kid"] for k in api.client.get("/.well-known/jwks.json").json()["keys"]}


def test_signing_keys_are_stored_sealed_under_a_generated_development_key(api: Api) -> None:
    api.signup()
    api.login()

    with api.container.engine().connect() as connection:
        [row] = connection.execute(select(signing_keys)).all()
    assert row.generation == 1
    assert b"PRIVATE KEY" not in row.sealed_private_key
    kek = api.container.settings().data_dir / "key-encryption-key"
    assert stat.S_IMODE(kek.stat().st_mode) == 0o600


SEED = generate_signing_key("ES256")


@pytest.mark.parametrize("settings_overrides", [{"signing_key": SEED.private_pem()}])
def test_a_configured_signing_key_becomes_the_first_key(api: Api) -> None:
    api.signup()
    assert header(api.login()["access_token"])["kid"] == SEED.kid


def test_a_changed_signing_algorithm_signs_from_the_next_start(tmp_path: Path) -> None:
    # API.md: the header's alg is the configured one. The key of the old
    # algorithm stays in the JWKS for the tokens it signed.
    url = f"sqlite:///{tmp_path / 'latchkey.db'}"
    upgrade(url)
    for alg in ("ES256", "EdDSA"):
        settings = make_settings(tmp_path, url, signing_alg=alg)
        container = Container()
        container.settings.override(providers.Object(settings))
        container.clock.override(providers.Object(FakeClock()))  # the api's clock below
        prepare_database(container)  # what `latchkey serve` does before it listens

    for api in build_api(settings):
        api.signup()
        assert header(api.login()["access_token"])["alg"] == "EdDSA"
        published = api.client.get("/.well-known/jwks.json").json()["keys"]
        assert sorted(key["alg"] for key in published) == ["ES256", "EdDSA"]


def test_a_key_of_a_new_algorithm_rotated_in_ahead_is_kept_by_the_next_start(
    tmp_path: Path,
) -> None:
    # README: `keys rotate` with the new LATCHKEY_SIGNING_ALG first, so that
    # verifiers have its key before it signs; restarts then rotate nothing.
    url = f"sqlite:///{tmp_path / 'latchkey.db'}"
    upgrade(url)
    clock = FakeClock()  # the api's clock below
    for alg, step in (("ES256", "start"), ("EdDSA", "rotate"), ("EdDSA", "start")):
        settings = make_settings(tmp_path, url, signing_alg=alg)
        container = Container()
        container.settings.override(providers.Object(settings))
        container.clock.override(providers.Object(clock))
        if step == "rotate":
            container.signing_keys().rotate()
        else:
            prepare_database(container)

    for api in build_api(settings):
        api.signup()
        published = api.client.get("/.well-known/jwks.json").json()["keys"]
        assert sorted(key["alg"] for key in published) == ["ES256", "EdDSA"]
        assert header(api.login()["access_token"])["alg"] == "ES256"
        api.clock.advance(signing_key_publication(settings).total_seconds())
        api.container.keys().reload()
        assert header(api.login()["access_token"])["alg"] == "EdDSA"
        assert len(api.container.signing_keys().list()) == 2


def test_a_seed_left_configured_does_not_stop_a_change_of_algorithm(tmp_path: Path) -> None:
    # README: LATCHKEY_SIGNING_KEY becomes the first key and is ignored afterwards.
    url = f"sqlite:///{tmp_path / 'latchkey.db'}"
    upgrade(url)
    for alg in ("ES256", "EdDSA"):
        settings = make_settings(tmp_path, url, signing_alg=alg, signing_key=SEED.private_pem())
        container = Container()
        container.settings.override(providers.Object(settings))
        prepare_database(container)
        container.engine().dispose()

    for api in build_api(settings):
        published = api.client.get("/.well-known/jwks.json").json()["keys"]
        assert sorted((k["alg"], k["kid"] == SEED.kid) for k in published) == [
            ("ES256", True),
            ("EdDSA", False),
        ]


def test_a_seed_that_cannot_be_the_first_key_stops_the_start_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'latchkey.db'}"
    upgrade(url)
    for seed, alg in [(SEED.private_pem(), "EdDSA"), ("-----BEGIN nonsense-----", "ES256")]:
        settings = make_settings(tmp_path, url, signing_alg=alg, signing_key=seed)
        container = Container()
        container.settings.override(providers.Object(settings))
        with pytest.raises(typer.Exit):
            prepare_database(container)
        error = capsys.readouterr().err
        assert error.startswith("error: LATCHKEY_SIGNING_KEY cannot be the first signing key")
        assert seed not in error


def test_a_start_with_a_wrong_key_encryption_key_stores_no_key(tmp_path: Path) -> None:
    # Its rotation to a new algorithm would seal the new active key under the
    # wrong key-encryption key, and every well-configured instance would then
    # fail to open it.
    url = f"sqlite:///{tmp_path / 'latchkey.db'}"
    upgrade(url)

    def start(alg: str, key_encryption_key: str) -> Container:
        settings = make_settings(
            tmp_path, url, signing_alg=alg, key_encryption_key=key_encryption_key
        )
        container = Container()
        container.settings.override(providers.Object(settings))
        prepare_database(container)
        return container

    container = start("ES256", "the right key-encryption key, 32+")
    with pytest.raises(typer.Exit):
        start("EdDSA", "a mistyped key-encryption key, 32+")

    with container.engine().connect() as connection:
        stored = connection.execute(select(signing_keys.c.alg)).scalars().all()
    assert stored == ["ES256"]


@pytest.mark.parametrize(
    "path",
    ["/healthz", "/readyz", "/.well-known/jwks.json", "/.well-known/oauth-authorization-server"],
)
def test_every_get_route_answers_head_with_the_headers_of_get_and_no_body(
    api: Api, path: str
) -> None:
    # RFC 9110 9.1: a general-purpose server supports GET and HEAD.
    got, head = api.client.get(path), api.client.head(path)

    assert (head.status_code, head.content) == (got.status_code, b"")
    for name in ("content-type", "content-length", "cache-control"):
        assert head.headers.get(name) == got.headers.get(name)


def test_head_on_a_route_without_get_is_405(api: Api) -> None:
    assert api.client.head("/v1/auth/login").status_code == 405


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/healthz", "GET, HEAD"),
        ("GET", "/v1/auth/login", "POST"),
        # Two routes at one path: every method of both (RFC 9110 15.5.6).
        ("PUT", "/v1/users/me", "DELETE, GET, HEAD"),
        ("GET", "/oauth/token", "POST"),
    ],
)
def test_a_405_names_every_method_the_path_answers(
    api: Api, method: str, path: str, allowed: str
) -> None:
    response = api.client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed


@pytest.mark.parametrize("path", ["/oauth/token/", "/v1/auth/login/", "/healthz/"])
def test_a_trailing_slash_is_not_found_never_redirected_to_the_host_header(
    api: Api, path: str
) -> None:
    # A 307 would have the client send its credentials again, to the host that
    # the request's own Host header named.
    response = api.client.post(
        path,
        data={"grant_type": "password"},
        headers={"Host": "evil.example"},
        follow_redirects=False,
    )
    assert response.status_code == 404
    assert "location" not in response.headers
