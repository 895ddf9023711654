"""Access tokens: RFC 9068 round trips; every attack of SECURITY.md 9-15 gets InvalidToken."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from adapters.jwt import JwtAccessTokenSigner
from adapters.keys import SigningKey, SigningKeySet, generate_signing_key
from domain.errors import InvalidToken, ServiceUnavailable

ISSUER = "https://auth.example.test"
AUDIENCE = ("latchkey",)
TTL = timedelta(seconds=900)
LEEWAY = timedelta(seconds=10)
NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
USER = UUID("0b9e3f0e-4c55-4d8e-9a43-7d0c0f6b1a11")
SESSION = UUID("5f3a1c2e-9d7b-4e6a-8c1f-2b3d4e5f6a7b")


@pytest.fixture(scope="module")
def es256_key() -> SigningKey:
    return generate_signing_key("ES256")


@pytest.fixture
def signer(es256_key: SigningKey) -> JwtAccessTokenSigner:
    return make_signer(SigningKeySet.single(es256_key))


def make_signer(keys: SigningKeySet, audience: tuple[str, ...] = AUDIENCE) -> JwtAccessTokenSigner:
    return JwtAccessTokenSigner(keys, issuer=ISSUER, audience=audience, ttl=TTL, leeway=LEEWAY)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(value: object) -> str:
    return b64(json.dumps(value).encode())


def unb64json(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def raw_sign(key: SigningKey, signing_input: bytes) -> bytes:
    """Sign with `cryptography` directly, bypassing the code under test."""
    private = key.key.private_key
    if isinstance(private, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(private.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    if isinstance(private, Ed25519PrivateKey):
        return private.sign(signing_input)
    assert isinstance(private, rsa.RSAPrivateKey)
    return private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())


def good_header(key: SigningKey) -> dict[str, object]:
    return {"alg": key.alg, "typ": "at+jwt", "kid": key.kid}


def good_claims(**changes: object) -> dict[str, object]:
    iat = int(NOW.timestamp())
    claims: dict[str, object] = {
        "iss": ISSUER,
        "sub": str(USER),
        "aud": "latchkey",
        "exp": iat + 900,
        "iat": iat,
        "jti": "jti-1",
        "sid": str(SESSION),
        "client_id": "latchkey",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def forge(key: SigningKey, header: dict[str, object], claims: dict[str, object]) -> str:
    signing_input = f"{b64json(header)}.{b64json(claims)}"
    return f"{signing_input}.{b64(raw_sign(key, signing_input.encode()))}"


def without(claim: str) -> dict[str, object]:
    claims = good_claims()
    del claims[claim]
    return claims


# -- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256"])
def test_an_issued_token_verifies_with_its_claims_for_each_algorithm(alg: str) -> None:
    key = generate_signing_key(alg)
    signer = make_signer(SigningKeySet.single(key))

    token, expires_at = signer.issue(user_id=USER, session_id=SESSION, client_id="cli-app", now=NOW)
    claims = signer.verify(token, NOW)

    assert expires_at == NOW + TTL
    assert unb64json(token.split(".")[0]) == {"alg": alg, "typ": "at+jwt", "kid": key.kid}
    payload = unb64json(token.split(".")[1])
    assert set(payload) == {"iss", "sub", "aud", "exp", "iat", "jti", "sid", "client_id"}
    assert payload["aud"] == "latchkey"
    assert claims.subject == USER
    assert claims.session_id == SESSION
    assert claims.client_id == "cli-app"
    assert claims.issuer == ISSUER
    assert claims.audience == AUDIENCE
    assert claims.issued_at == NOW
    assert claims.expires_at == NOW + TTL
    assert claims.jti == payload["jti"]


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256"])
def test_another_library_verifies_our_tokens_with_the_published_jwks(alg: str) -> None:
    keys = SigningKeySet.single(generate_signing_key(alg))
    token, _ = make_signer(keys).issue(
        user_id=USER, session_id=SESSION, client_id="latchkey", now=NOW
    )
    published = json.loads(json.dumps(keys.public_jwks()))["keys"]

    decoded = pyjwt.decode(
        token,
        pyjwt.PyJWK(published[0]).key,
        algorithms=[alg],
        audience="latchkey",
        issuer=ISSUER,
        options={"verify_exp": False, "verify_iat": False},
    )

    assert decoded["sub"] == str(USER)


def test_every_token_gets_a_fresh_jti(signer: JwtAccessTokenSigner) -> None:
    tokens = [
        signer.issue(user_id=USER, session_id=SESSION, client_id="latchkey", now=NOW)[0]
        for _ in range(50)
    ]
    assert len({signer.verify(t, NOW).jti for t in tokens}) == 50


def test_several_audiences_are_issued_as_a_list_and_any_of_ours_is_accepted(
    es256_key: SigningKey,
) -> None:
    signer = make_signer(SigningKeySet.single(es256_key), audience=("latchkey", "billing"))
    token, _ = signer.issue(user_id=USER, session_id=SESSION, client_id="latchkey", now=NOW)

    assert unb64json(token.split(".")[1])["aud"] == ["latchkey", "billing"]
    assert signer.verify(token, NOW).audience == ("latchkey", "billing")
    narrow = make_signer(SigningKeySet.single(es256_key), audience=("billing",))
    assert narrow.verify(token, NOW).subject == USER


def test_a_token_signed_by_a_retired_key_still_verifies_after_rotation(
    es256_key: SigningKey,
) -> None:
    old_signer = make_signer(SigningKeySet.single(es256_key))
    token, _ = old_signer.issue(user_id=USER, session_id=SESSION, client_id="latchkey", now=NOW)
    new_key = generate_signing_key("EdDSA")
    rotated = make_signer(SigningKeySet(new_key, retired=[es256_key]))

    assert rotated.verify(token, NOW).subject == USER
    new_token, _ = rotated.issue(user_id=USER, session_id=SESSION, client_id="latchkey", now=NOW)
    assert unb64json(new_token.split(".")[0])["kid"] == new_key.kid


def test_a_hand_forged_token_with_our_key_verifies(
    signer: JwtAccessTokenSigner, es256_key: SigningKey
) -> None:
    # Proves the forging helper is right, so the refusals below are meaningful.
    token = forge(es256_key, good_header(es256_key), good_claims())
    assert signer.verify(token, NOW).subject == USER


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt", "Application/AT+JWT"])
def test_typ_is_accepted_in_either_rfc_9068_form_in_any_case(
    signer: JwtAccessTokenSigner, es256_key: SigningKey, typ: str
) -> None:
    token = forge(es256_key, {**good_header(es256_key), "typ": typ}, good_claims())
    assert signer.verify(token, NOW).subject == USER


# -- times and leeway ----------------------------------------------------------------------


def test_a_token_expired_within_the_leeway_still_verifies(signer: JwtAccessTokenSigner) -> None:
    token, expires_at = signer.issue(
        user_id=USER, session_id=SESSION, client_id="latchkey", now=NOW
    )
    assert signer.verify(token, expires_at + timedelta(seconds=5)).subject == USER


def test_a_token_never_outlives_the_end_it_is_given(signer: JwtAccessTokenSigner) -> None:
    # The session's absolute end, when it comes before the token's own lifetime ends.
    soon = NOW + timedelta(seconds=30)
    token, expires_at = signer.issue(
        user_id=USER, session_id=SESSION, client_id="latchkey", now=NOW, not_after=soon
    )
    assert expires_at == soon.replace(microsecond=0)
    assert signer.verify(token, NOW).expires_at == expires_at
    _, unbounded = signer.issue(
        user_id=USER, session_id=SESSION, client_id="latchkey", now=NOW, not_after=NOW + TTL * 2
    )
    assert unbounded == NOW.replace(microsecond=0) + TTL


def test_a_token_expired_beyond_the_leeway_is_refused(signer: JwtAccessTokenSigner) -> None:
    token, expires_at = signer.issue(
        user_id=USER, session_id=SESSION, client_id="latchkey", now=NOW
    )
    with pytest.raises(InvalidToken):
        signer.verify(token, expires_at + timedelta(seconds=11))


def test_an_nbf_within_the_leeway_is_accepted(
    signer: JwtAccessTokenSigner, es256_key: SigningKey
) -> None:
    nbf = int(NOW.timestamp()) + 5
    token = forge(es256_key, good_header(es256_key), good_claims(nbf=nbf))
    assert signer.verify(token, NOW).subject == USER


def test_a_leeway_above_sixty_seconds_is_refused_at_construction(es256_key: SigningKey) -> None:
    with pytest.raises(ValueError, match="leeway"):
        JwtAccessTokenSigner(
            SigningKeySet.single(es256_key),
            issuer=ISSUER,
            audience=AUDIENCE,
            ttl=TTL,
            leeway=timedelta(seconds=61),
        )


# -- attacks -------------------------------------------------------------------------------

Attack = Callable[[JwtAccessTokenSigner, SigningKey], str]


def _valid(signer: JwtAccessTokenSigner) -> str:
    return signer.issue(user_id=USER, session_id=SESSION, client_id="latchkey", now=NOW)[0]


def _alg_none(alg: str, signature: str) -> Attack:
    def build(_: JwtAccessTokenSigner, key: SigningKey) -> str:
        header = {"alg": alg, "typ": "at+jwt", "kid": key.kid}
        return f"{b64json(header)}.{b64json(good_claims())}.{signature}"

    return build


def _hs256_with_public_key(_: JwtAccessTokenSigner, key: SigningKey) -> str:
    public_pem = key.key.as_pem(private=False)
    signing_input = f"{b64json({**good_header(key), 'alg': 'HS256'})}.{b64json(good_claims())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def _hs256_with_public_jwk(_: JwtAccessTokenSigner, key: SigningKey) -> str:
    secret = json.dumps(key.public_jwk()).encode()
    signing_input = f"{b64json({**good_header(key), 'alg': 'HS256'})}.{b64json(good_claims())}"
    return f"{signing_input}.{b64(hmac.new(secret, signing_input.encode(), 'sha256').digest())}"


def _tampered_payload(signer: JwtAccessTokenSigner, _: SigningKey) -> str:
    header, payload, signature = _valid(signer).split(".")
    claims = unb64json(payload)
    claims["sub"] = str(uuid4())
    return f"{header}.{b64json(claims)}.{signature}"


def _signature_from_another_token(signer: JwtAccessTokenSigner, _: SigningKey) -> str:
    mine = _valid(signer).split(".")
    other = signer.issue(user_id=uuid4(), session_id=uuid4(), client_id="x", now=NOW)[0]
    return f"{mine[0]}.{mine[1]}.{other.split('.')[2]}"


def _signed_by_an_attacker_key_with_embedded_jwk(_: JwtAccessTokenSigner, __: SigningKey) -> str:
    attacker = generate_signing_key("ES256")
    header = {**good_header(attacker), "jwk": attacker.public_jwk()}
    return forge(attacker, header, good_claims())


def _with_header(**extra: object) -> Attack:
    """Correctly signed by our own key: only the header parameter is wrong."""

    def build(_: JwtAccessTokenSigner, key: SigningKey) -> str:
        header = {**good_header(key), **extra}
        return forge(key, {k: v for k, v in header.items() if v is not None}, good_claims())

    return build


def _with_claims(**changes: object) -> Attack:
    def build(_: JwtAccessTokenSigner, key: SigningKey) -> str:
        return forge(key, good_header(key), good_claims(**changes))

    return build


def _without_claim(claim: str) -> Attack:
    def build(_: JwtAccessTokenSigner, key: SigningKey) -> str:
        return forge(key, good_header(key), without(claim))

    return build


def _signed_raw(header_segment: str, payload_segment: str) -> Attack:
    def build(_: JwtAccessTokenSigner, key: SigningKey) -> str:
        signing_input = f"{header_segment}.{payload_segment}"
        return f"{signing_input}.{b64(raw_sign(key, signing_input.encode()))}"

    return build


def _oversized(_: JwtAccessTokenSigner, key: SigningKey) -> str:
    token = forge(key, good_header(key), good_claims(pad="x" * 8200))
    assert len(token) > 8192
    return token


def _signed_by_a_foreign_key_under_our_kid(_: JwtAccessTokenSigner, key: SigningKey) -> str:
    stranger = generate_signing_key("ES256")
    return forge(stranger, good_header(key), good_claims())


def _nan_exp(_: JwtAccessTokenSigner, key: SigningKey) -> str:
    payload = json.dumps(good_claims()).replace(
        f'"exp": {int(NOW.timestamp()) + 900}', '"exp": NaN'
    )
    assert "NaN" in payload
    return _signed_raw(b64json(good_header(key)), b64(payload.encode()))(_, key)


def _duplicate_sub(_: JwtAccessTokenSigner, key: SigningKey) -> str:
    payload = json.dumps(good_claims())[:-1] + f', "sub": "{uuid4()}"}}'
    return _signed_raw(b64json(good_header(key)), b64(payload.encode()))(_, key)


FUTURE = int(NOW.timestamp()) + 60

ATTACKS: dict[str, Attack] = {
    # 9. alg none and missing signatures
    "alg none": _alg_none("none", ""),
    "alg None": _alg_none("None", ""),
    "alg NONE": _alg_none("NONE", ""),
    "alg nOnE with a junk signature": _alg_none("nOnE", b64(b"junk")),
    "alg none with a junk signature": _alg_none("none", b64(b"junk")),
    "empty signature": lambda s, _: _valid(s).rsplit(".", 1)[0] + ".",
    "stripped signature": lambda s, _: _valid(s).rsplit(".", 1)[0],
    # 10. key confusion
    "HS256 with our public key PEM as the secret": _hs256_with_public_key,
    "HS256 with our public JWK as the secret": _hs256_with_public_jwk,
    "alg of another family than the key": _with_header(alg="RS256"),
    "alg ES384 for an ES256 key": _with_header(alg="ES384"),
    # 11. integrity
    "tampered payload": _tampered_payload,
    "signature from another token": _signature_from_another_token,
    "signed by a foreign key under our kid": _signed_by_a_foreign_key_under_our_kid,
    # 12. keys named or brought by the token
    "embedded jwk signed by the attacker": _signed_by_an_attacker_key_with_embedded_jwk,
    "embedded jwk next to our kid": _with_header(jwk={"kty": "oct", "k": "c2VjcmV0"}),
    "jku header": _with_header(jku="https://evil.example/jwks.json"),
    "x5u header": _with_header(x5u="https://evil.example/cert.pem"),
    "x5c header": _with_header(x5c=["MIIB"]),
    "crit header": _with_header(crit=["exp"]),
    "b64 false header": _with_header(b64=False),
    "unknown kid": _with_header(kid="no-such-key"),
    "path-like kid": _with_header(kid="../../../../../../dev/null"),
    "SQL-like kid": _with_header(kid="x' UNION SELECT 'secret' --"),
    "10 KB kid": _with_header(kid="k" * 10240),
    "over-long kid within the size limit": _with_header(kid="k" * 200),
    "missing kid": _with_header(kid=None),
    "non-string kid": _with_header(kid=7),
    # 13. times
    "expired beyond the leeway": _with_claims(exp=int(NOW.timestamp()) - 11),
    "no exp": _without_claim("exp"),
    "NaN exp": _nan_exp,
    "string exp": _with_claims(exp=str(int(NOW.timestamp()) + 900)),
    "boolean exp": _with_claims(exp=True),
    "future nbf": _with_claims(nbf=FUTURE),
    "future iat": _with_claims(iat=FUTURE),
    "no iat": _without_claim("iat"),
    # 14. issuer, audience, type
    "wrong iss": _with_claims(iss="https://evil.example"),
    "no iss": _without_claim("iss"),
    "wrong aud": _with_claims(aud="someone-else"),
    "wrong aud list": _with_claims(aud=["a", "b"]),
    "empty aud list": _with_claims(aud=[]),
    "no aud": _without_claim("aud"),
    "typ JWT": _with_header(typ="JWT"),
    "no typ": _with_header(typ=None),
    # claim shapes
    "sub that is not a UUID": _with_claims(sub="admin"),
    "sid that is not a UUID": _with_claims(sid="1 OR 1=1"),
    "no sid": _without_claim("sid"),
    "non-string client_id": _with_claims(client_id=["a"]),
    "no jti": _without_claim("jti"),
    "duplicate sub claim": _duplicate_sub,
    # 15. size and malformation
    "oversized": _oversized,
    "bad base64": lambda s, _: "!!!.@@@.###",
    "base64 with padding": lambda s, _: _valid(s).replace(".", "=.", 1),
    "bad JSON header": lambda s, k: f"{b64(b'{not json')}.{_valid(s).split('.', 1)[1]}",
    "header that is a JSON list": _signed_raw(b64json(["alg", "ES256"]), b64json(good_claims())),
    "bad JSON payload": lambda s, k: _signed_raw(b64json(good_header(k)), b64(b"{nope"))(s, k),
    "payload that is a JSON string": lambda s, k: _signed_raw(
        b64json(good_header(k)), b64json("claims")
    )(s, k),
    "extra segments": lambda s, _: _valid(s) + ".AAAA",
    "JWE-shaped": lambda s, _: "a.b.c.d.e",
    "empty": lambda s, _: "",
    "whitespace": lambda s, _: " " + _valid(s),
    "non-ASCII": lambda s, _: _valid(s) + "é",
    "a refresh token": lambda s, _: "Xf0c2w8d9s7lB3mQ1ZP7vYyq8H5Jk2TtU6oWcRnA4aE",
}


@pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())
def test_a_hostile_or_broken_token_is_refused_with_invalid_token(
    signer: JwtAccessTokenSigner, es256_key: SigningKey, attack: Attack
) -> None:
    token = attack(signer, es256_key)
    with pytest.raises(InvalidToken):
        signer.verify(token, NOW)


def test_a_non_string_token_is_refused_with_invalid_token(signer: JwtAccessTokenSigner) -> None:
    with pytest.raises(InvalidToken):
        signer.verify(None, NOW)  # type: ignore[arg-type]


def test_an_alg_none_token_is_refused_for_every_algorithm_we_sign_with() -> None:
    for alg in ("ES256", "EdDSA", "RS256"):
        key = generate_signing_key(alg)
        token = _alg_none("none", "")(make_signer(SigningKeySet.single(key)), key)
        with pytest.raises(InvalidToken):
            make_signer(SigningKeySet.single(key)).verify(token, NOW)


class _KeysBehindADownDatabase:
    """A worker's keys before their first load, while the database is down."""

    def __init__(self, keys: SigningKeySet) -> None:
        self._keys = keys
        self.database_down = False

    def current(self, kid: str | None = None) -> SigningKeySet:
        if self.database_down:
            raise ServiceUnavailable("the database is unavailable")
        return self._keys


def test_keys_that_cannot_be_loaded_are_an_outage_not_a_bad_token(es256_key: SigningKey) -> None:
    # A 401 would tell the client to throw a good token away; a 503 to retry.
    keys = _KeysBehindADownDatabase(SigningKeySet.single(es256_key))
    signer = JwtAccessTokenSigner(keys, issuer=ISSUER, audience=AUDIENCE, ttl=TTL, leeway=LEEWAY)
    token, _ = signer.issue(user_id=uuid4(), session_id=uuid4(), client_id="latchkey", now=NOW)
    keys.database_down = True

    with pytest.raises(ServiceUnavailable):
        signer.verify(token, NOW)


def test_an_issuer_ending_in_a_slash_is_the_iss_exactly_and_the_older_form_still_verifies(
    es256_key: SigningKey,
) -> None:
    keys = SigningKeySet.single(es256_key)
    configured = ISSUER + "/"
    signer = JwtAccessTokenSigner(
        keys, issuer=configured, audience=AUDIENCE, ttl=TTL, leeway=LEEWAY
    )
    token, _ = signer.issue(user_id=USER, session_id=SESSION, client_id="latchkey", now=NOW)
    assert signer.verify(token, NOW).issuer == configured
    # What releases before 2026-11-27 put in `iss`: live during a rolling upgrade.
    older = forge(es256_key, good_header(es256_key), good_claims(iss=ISSUER))
    assert signer.verify(older, NOW).subject == USER
    # Only that form: anything else is still the wrong issuer.
    for other in (ISSUER + "//", ISSUER + "/x", "https://auth.example.test.evil"):
        with pytest.raises(InvalidToken):
            signer.verify(forge(es256_key, good_header(es256_key), good_claims(iss=other)), NOW)
