"""Hostile and broken input over HTTP: oversized bodies, malformed JSON, wrong types,
oversized and malformed bearer tokens, and errors that must not show their insides
(SECURITY 15, 28, 30)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from dependency_injector import providers
from joserfc.jwk import ECKey
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from adapters.sql.tables import users
from tests.e2e.conftest import PASSWORD, Api
from tests.e2e.oauth_requests import basic, post

MAX_BODY = 64 * 1024
JSON = {"content-type": "application/json"}


def _assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


def test_a_body_over_64_kib_declared_in_content_length_is_413_before_parsing(api: Api) -> None:
    # Not JSON at all: had anything parsed it, the answer would be a 422.
    response = api.client.post("/v1/auth/signup", content=b"{" * (MAX_BODY + 1), headers=JSON)
    _assert_problem(response, 413, "payload_too_large")
    assert "x-request-id" in response.headers


def test_a_streamed_body_over_64_kib_without_content_length_is_413(api: Api) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"{" * 4096

    response = api.client.post("/v1/auth/login", content=chunks(), headers=JSON)
    _assert_problem(response, 413, "payload_too_large")


def test_a_body_of_exactly_64_kib_is_parsed(api: Api) -> None:
    response = api.client.post("/v1/auth/signup", content=b"{" * MAX_BODY, headers=JSON)
    _assert_problem(response, 422, "validation_error")


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b'{"email": "ada@example.com", "password": ',
        b"not json at all",
        b'{"email": "\xff\xfe", "password": "x"}',
        b"[" * 50_000,
        b'{"a":' * 10_000,
        b'{"email": NaN, "password": Infinity}',
    ],
    ids=["unclosed", "truncated", "not json", "bad utf-8", "deep array", "deep object", "NaN"],
)
def test_malformed_json_is_a_422_validation_error(api: Api, body: bytes) -> None:
    for path in ("/v1/auth/signup", "/v1/auth/login", "/v1/auth/refresh"):
        _assert_problem(api.client.post(path, content=body, headers=JSON), 422, "validation_error")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/auth/signup", {"email": 5, "password": ["x"]}),
        ("/v1/auth/signup", [{"email": "ada@example.com", "password": PASSWORD}]),
        ("/v1/auth/login", {"email": None, "password": {"a": 1}}),
        ("/v1/auth/login", {"email": "ada@example.com", "password": 123456789012345}),
        ("/v1/auth/refresh", {"refresh_token": 42}),
        ("/v1/auth/refresh", "a string"),
    ],
)
def test_wrong_types_are_a_422_validation_error(api: Api, path: str, body: object) -> None:
    _assert_problem(api.client.post(path, json=body), 422, "validation_error")


def test_a_refresh_token_longer_than_any_issued_is_unknown_not_malformed(api: Api) -> None:
    refused = api.client.post("/v1/auth/refresh", json={"refresh_token": "x" * 9000})
    _assert_problem(refused, 401, "invalid_refresh_token")
    grant = {"grant_type": "refresh_token", "refresh_token": "x" * 9000}
    refused = api.client.post("/oauth/token", data=grant)
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_grant")


def test_wrong_types_on_protected_routes_are_a_422_validation_error(api: Api) -> None:
    api.signup()
    bearer = {"Authorization": f"Bearer {api.login()['access_token']}"}
    for method, path, body in [
        ("POST", "/v1/auth/logout", {"scope": 1}),
        ("POST", "/v1/users/me/password", {"current_password": 1, "new_password": True}),
        ("DELETE", "/v1/users/me", {"password": None}),
        ("DELETE", "/v1/sessions/not-a-uuid", None),
    ]:
        response = api.client.request(method, path, json=body, headers=bearer)
        _assert_problem(response, 422, "validation_error")


def test_a_nul_character_is_answered_alike_on_either_database(any_api: Api) -> None:
    # PostgreSQL cannot store or even compare a NUL in text; SQLite can. The
    # answers are those of the API either way, never the database's.
    api = any_api
    api.signup()
    nul_email = {"email": "ada\u0000@example.com", "password": PASSWORD}
    refused = api.client.post("/v1/auth/login", json=nul_email)
    assert (refused.status_code, refused.json()["code"]) == (401, "invalid_credentials")
    signup = api.client.post("/v1/auth/signup", json=nul_email)
    assert (signup.status_code, signup.json()["code"]) == (422, "validation_error")
    device = {"email": "ada@example.com", "password": PASSWORD, "device_name": "phone\u0000"}
    named = api.client.post("/v1/auth/login", json=device)
    assert (named.status_code, named.json()["code"]) == (422, "validation_error")
    introspected = post(api, "introspect", basic("svc\u0000", "a secret"), token="t")
    assert (introspected.status_code, introspected.json()["error"]) == (401, "invalid_client")


@pytest.mark.parametrize("name", ["phone\u001b[2J", "phone\u007f", "phone\u009b"])
def test_a_device_name_with_a_control_character_is_a_validation_error(api: Api, name: str) -> None:
    api.signup()
    body = {"email": "ada@example.com", "password": PASSWORD, "device_name": name}
    response = api.client.post("/v1/auth/login", json=body)
    _assert_problem(response, 422, "validation_error")


def test_an_address_stored_before_the_control_character_rule_keeps_working(
    any_api: Api,
) -> None:
    # Sign-up refuses control characters now; an account made before must
    # still log in, read its profile and be disabled by an operator.
    api = any_api
    api.signup()
    legacy = "eve\u0001@example.com"
    with api.container.engine().begin() as connection:
        connection.execute(update(users).values(email=legacy, email_canonical=legacy))

    pair = api.client.post("/v1/auth/login", json={"email": legacy, "password": PASSWORD})
    assert pair.status_code == 200, pair.text
    access = pair.json()["access_token"]
    me = api.me(access)
    assert (me.status_code, me.json()["email"]) == (200, legacy)
    api.container.manage_users().disable(legacy)
    assert api.me(access).status_code == 401


@pytest.mark.parametrize("bearer", [None, "Bearer not-a-token"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/auth/logout"),
        ("POST", "/v1/users/me/password"),
        ("DELETE", "/v1/users/me"),
        ("DELETE", "/v1/sessions/not-a-uuid"),
    ],
)
def test_a_protected_route_asks_for_a_token_before_it_reads_the_body(
    api: Api, method: str, path: str, bearer: str | None
) -> None:
    # RFC 6750 3: without a valid token the answer is the challenge, whatever
    # else is wrong with the request; a 422 would tell a client to fix its body.
    headers = {"Content-Type": "application/json"}
    if bearer:
        headers["Authorization"] = bearer
    response = api.client.request(method, path, content=b"{not json", headers=headers)
    _assert_problem(response, 401, "invalid_token")
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


MALFORMED_TOKENS = {
    "oversized (9 KiB)": "a" * 9 * 1024,
    "oversized (60 KiB)": ".".join(["a" * 20 * 1024] * 3),
    "bad base64": "!!!.@@@.###",
    "bad JSON header": f"{_b64(b'{not json')}.{_b64(b'{}')}.{_b64(b'sig')}",
    "header not an object": f"{_b64(b'[1]')}.{_b64(b'{}')}.{_b64(b'sig')}",
    "extra segments": "a.b.c.d.e",
    "two segments": "a.b",
    "empty": "",
    "only dots": "..",
}


@pytest.mark.parametrize("token", MALFORMED_TOKENS.values(), ids=MALFORMED_TOKENS.keys())
def test_an_oversized_or_malformed_bearer_token_is_a_401_never_a_500(api: Api, token: str) -> None:
    for method, path in (
        ("GET", "/v1/users/me"),
        ("GET", "/v1/sessions"),
        ("POST", "/v1/auth/logout"),
    ):
        response = api.client.request(method, path, headers={"Authorization": f"Bearer {token}"})
        _assert_problem(response, 401, "invalid_token")
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_a_bearer_header_with_bytes_outside_ascii_is_a_401(api: Api) -> None:
    response = api.client.get(
        "/v1/users/me", headers={"Authorization": b"Bearer \xe9\xe9.\xe9.\xe9"}
    )
    _assert_problem(response, 401, "invalid_token")


def test_an_unexpected_error_answers_a_generic_500_without_trace_or_sql(api: Api) -> None:
    class Broken:
        def __call__(self, *_: object) -> None:
            raise RuntimeError("SELECT password_hash FROM users WHERE email = 'ada@example.com'")

    api.container.sign_up.override(providers.Object(Broken()))
    response = api.client.post(
        "/v1/auth/signup", json={"email": "ada@example.com", "password": PASSWORD}
    )

    _assert_problem(response, 500, "internal_error")
    assert response.json()["detail"] == "an unexpected error occurred"
    for leak in ("SELECT", "password_hash", "RuntimeError", "Traceback", "File ", PASSWORD):
        assert leak not in response.text
    assert response.headers["x-request-id"]


def test_a_database_error_that_escapes_a_unit_of_work_is_a_503_without_sql(api: Api) -> None:
    class Unreachable:
        def __call__(self, *_: object) -> None:
            raise OperationalError("SELECT * FROM users", {}, Exception("connection refused"))

    api.container.log_in.override(providers.Object(Unreachable()))
    response = api.client.post(
        "/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )

    _assert_problem(response, 503, "service_unavailable")
    assert int(response.headers["retry-after"]) >= 1
    assert "SELECT" not in response.text
    assert "refused" not in response.text
    assert json.loads(response.text)["detail"] == (
        "the service is temporarily unavailable, try again shortly"
    )


def _segments(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    return _json_segment(header), _json_segment(payload), signature


def _json_segment(segment: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return decoded


def _encode(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value).encode())


def _public_pem(api: Api, kid: str) -> bytes:
    jwks = api.client.get("/.well-known/jwks.json").json()
    jwk = next(key for key in jwks["keys"] if key["kid"] == kid)
    return ECKey.import_key(jwk).as_pem(private=False)


def _forgeries(api: Api, token: str, other: str) -> dict[str, str]:
    """What an attacker can make from tokens they hold and our public key alone."""
    header, claims, signature = _segments(token)
    attacker = ec.generate_private_key(ec.SECP256R1())
    attacker_jwk = ECKey.import_key(attacker).as_dict(private=False)

    def signed_by_attacker(extra_header: dict[str, Any]) -> str:
        signing_input = f"{_encode({**header, **extra_header})}.{_encode(claims)}"
        r, s = decode_dss_signature(
            attacker.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        )
        return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    hs256_input = f"{_encode({**header, 'alg': 'HS256'})}.{_encode(claims)}"
    hs256 = hmac.new(_public_pem(api, header["kid"]), hs256_input.encode(), hashlib.sha256)
    tampered = {**claims, "sub": str(uuid4())}
    return {
        "alg none": f"{_encode({**header, 'alg': 'none'})}.{_encode(claims)}.",
        "alg NoNe with the original signature": (
            f"{_encode({**header, 'alg': 'NoNe'})}.{_encode(claims)}.{signature}"
        ),
        "stripped signature": f"{_encode(header)}.{_encode(claims)}",
        "empty signature": f"{_encode(header)}.{_encode(claims)}.",
        "HS256 with our public key as the secret": f"{hs256_input}.{_b64(hs256.digest())}",
        "tampered payload": f"{_encode(header)}.{_encode(tampered)}.{signature}",
        "signature of another token": f"{_encode(header)}.{_encode(claims)}.{other.split('.')[2]}",
        "embedded jwk": signed_by_attacker({"jwk": attacker_jwk}),
        "jku": signed_by_attacker({"jku": "https://attacker.example/jwks.json"}),
        "x5u": signed_by_attacker({"x5u": "https://attacker.example/cert.pem"}),
        "unknown kid": signed_by_attacker({"kid": "attacker-key"}),
        "path-like kid": signed_by_attacker({"kid": "../../../../dev/null"}),
        "SQL-like kid": signed_by_attacker({"kid": "x' OR '1'='1"}),
        "10 KB kid": signed_by_attacker({"kid": "k" * 10_240}),
    }


def test_forged_access_tokens_are_401_through_the_api(api: Api) -> None:
    """SECURITY 9-12 end to end; tests/integration/test_jwt.py has every variant."""
    api.signup()
    api.signup("bob@example.com")
    token = api.login()["access_token"]
    other = api.login("bob@example.com")["access_token"]
    assert api.me(token).status_code == 200

    for name, forged in _forgeries(api, token, other).items():
        response = api.me(forged)
        assert response.status_code == 401, name
        assert response.json()["code"] == "invalid_token", name


def test_an_access_token_expired_beyond_the_leeway_is_401_through_the_api(api: Api) -> None:
    api.signup()
    token = api.login()["access_token"]
    api.clock.advance(900 + 10)  # the leeway of these tests' settings
    assert api.me(token).status_code == 200
    api.clock.advance(2)
    assert api.me(token).status_code == 401
