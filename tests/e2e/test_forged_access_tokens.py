"""Access tokens signed with the service's own active key but with the wrong
claims or header are refused by the API (SECURITY.md 13 and 14): a valid
signature is not enough."""

from __future__ import annotations

from typing import Any

from joserfc import jwt
from joserfc.jws import JWSRegistry

from tests.e2e.conftest import Api


def _forge(api: Api, pair: dict[str, Any], header: dict[str, Any], **claims: Any) -> str:
    """Re-sign the claims of a real token, changed as asked, with our own active key."""
    key = api.container.keys().current().active
    real = api.container.signer().verify(pair["access_token"], api.clock.now())
    body: dict[str, Any] = {
        "iss": real.issuer,
        "sub": str(real.subject),
        "aud": real.audience[0],
        "exp": int(real.expires_at.timestamp()),
        "iat": int(real.issued_at.timestamp()),
        "jti": "forged",
        "sid": str(real.session_id),
        "client_id": real.client_id,
    }
    body.update(claims)
    for name in [k for k, v in body.items() if v is None]:
        del body[name]
    full_header = {"alg": key.alg, "typ": "at+jwt", "kid": key.kid, **header}
    full_header = {k: v for k, v in full_header.items() if v is not None}
    return jwt.encode(full_header, body, key.key, registry=JWSRegistry(algorithms=[key.alg]))


def _refused(api: Api, token: str) -> bool:
    response = api.me(token)
    return bool(response.status_code == 401 and response.json()["code"] == "invalid_token")


def test_a_re_signed_token_with_unchanged_claims_is_accepted(api: Api) -> None:
    api.signup()
    pair = api.login()
    assert api.me(_forge(api, pair, {})).status_code == 200


def test_a_token_from_another_issuer_is_refused(api: Api) -> None:
    api.signup()
    pair = api.login()
    assert _refused(api, _forge(api, pair, {}, iss="https://evil.example"))


def test_a_token_for_another_audience_is_refused(api: Api) -> None:
    api.signup()
    pair = api.login()
    assert _refused(api, _forge(api, pair, {}, aud="billing"))
    assert _refused(api, _forge(api, pair, {}, aud=["billing", "reports"]))


def test_a_token_whose_typ_is_not_at_jwt_is_refused(api: Api) -> None:
    api.signup()
    pair = api.login()
    assert _refused(api, _forge(api, pair, {"typ": "JWT"}))
    assert _refused(api, _forge(api, pair, {"typ": None}))


def test_a_token_without_exp_or_from_the_future_is_refused(api: Api) -> None:
    api.signup()
    pair = api.login()
    now = int(api.clock.now().timestamp())
    assert _refused(api, _forge(api, pair, {}, exp=None))
    assert _refused(api, _forge(api, pair, {}, nbf=now + 60))
    assert _refused(api, _forge(api, pair, {}, iat=now + 60))


def test_a_token_expired_within_the_leeway_passes_and_beyond_it_fails(api: Api) -> None:
    api.signup()
    pair = api.login()
    api.clock.advance(900 + 5)
    assert api.me(pair["access_token"]).status_code == 200
    api.clock.advance(10)
    assert _refused(api, pair["access_token"])
