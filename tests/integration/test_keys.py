"""Signing keys: generation, thumbprint kids, PEM loading and the public JWKS."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from adapters.keys import (
    SigningKeySet,
    generate_signing_key,
    signing_key_from_pem,
)

ALGORITHMS = ["ES256", "EdDSA", "RS256"]
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
THUMBPRINT_MEMBERS = {
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
    "RSA": ("e", "kty", "n"),
}


def rfc7638_thumbprint(jwk: dict[str, object]) -> str:
    members = {name: jwk[name] for name in THUMBPRINT_MEMBERS[str(jwk["kty"])]}
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


def pem_of(private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.mark.parametrize(
    ("alg", "kty", "crv"),
    [("ES256", "EC", "P-256"), ("EdDSA", "OKP", "Ed25519"), ("RS256", "RSA", None)],
)
def test_a_generated_key_has_the_type_of_its_algorithm_and_a_thumbprint_kid(
    alg: str, kty: str, crv: str | None
) -> None:
    key = generate_signing_key(alg)
    jwk = key.public_jwk()

    assert key.alg == alg
    assert key.key.is_private
    assert jwk["kty"] == kty
    assert jwk.get("crv") == crv
    assert key.kid == rfc7638_thumbprint(jwk)


def test_an_rsa_key_is_2048_bits() -> None:
    private = generate_signing_key("RS256").key.private_key
    assert isinstance(private, rsa.RSAPrivateKey)
    assert private.key_size == 2048


def test_an_unsupported_algorithm_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="HS256"):
        generate_signing_key("HS256")


def test_the_jwks_holds_every_verification_key_public_half_only() -> None:
    active, retired = generate_signing_key("ES256"), generate_signing_key("RS256")
    jwks = SigningKeySet(active, retired=[retired]).public_jwks()

    keys = jwks["keys"]
    assert isinstance(keys, list)
    assert {k["kid"] for k in keys} == {active.kid, retired.kid}
    for jwk in keys:
        assert not PRIVATE_MEMBERS & set(jwk)
        assert jwk["use"] == "sig"
        assert jwk["alg"] in {"ES256", "RS256"}
    json.dumps(jwks)  # serialisable as it is


def test_a_key_set_signs_with_the_active_key_and_verifies_with_all() -> None:
    active, retired = generate_signing_key("EdDSA"), generate_signing_key("ES256")
    keys = SigningKeySet(active, retired=[retired])

    assert keys.active is active
    assert dict(keys.verification_keys) == {active.kid: active, retired.kid: retired}
    assert dict(SigningKeySet.single(active).verification_keys) == {active.kid: active}


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_a_pem_round_trips_to_the_same_kid(alg: str) -> None:
    key = generate_signing_key(alg)
    loaded = signing_key_from_pem(key.private_pem(), alg)
    assert (loaded.kid, loaded.alg) == (key.kid, alg)


def test_a_traditional_openssl_ec_pem_is_accepted() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    assert signing_key_from_pem(pem, "ES256").alg == "ES256"


@pytest.mark.parametrize(
    ("pem", "alg", "message"),
    [
        (pem_of(ec.generate_private_key(ec.SECP256R1())), "RS256", "RS256 needs an RSA"),
        (pem_of(ec.generate_private_key(ec.SECP256R1())), "EdDSA", "EdDSA needs an Ed25519"),
        (pem_of(ec.generate_private_key(ec.SECP384R1())), "ES256", "ES256 needs an EC P-256"),
        (pem_of(rsa.generate_private_key(65537, 2048)), "ES256", "ES256 needs an EC P-256"),
        (pem_of(rsa.generate_private_key(65537, 1024)), "RS256", "at least 2048 bits"),
        ("not a pem at all", "ES256", "PEM"),
        ("", "ES256", "PEM"),
    ],
    ids=[
        "EC as RS256",
        "EC as EdDSA",
        "P-384 as ES256",
        "RSA as ES256",
        "RSA-1024",
        "garbage",
        "empty",
    ],
)
def test_a_pem_that_does_not_fit_the_algorithm_is_refused_with_a_clear_message(
    pem: str, alg: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        signing_key_from_pem(pem, alg)


def test_a_public_key_pem_is_refused() -> None:
    public_pem = generate_signing_key("ES256").key.as_pem(private=False).decode()
    with pytest.raises(ValueError, match="private key"):
        signing_key_from_pem(public_pem, "ES256")
