"""Signing keys for access tokens (joserfc JWKs), and writing development secret files.

A key is identified by its RFC 7638 thumbprint, so the same private key always
gets the same `kid` on every instance and after every restart.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from joserfc.jwk import ECKey, KeyParameters, OKPKey, RSAKey

SUPPORTED_ALGORITHMS = ("ES256", "EdDSA", "RS256")
RSA_KEY_SIZE = 2048

JoseKey = ECKey | OKPKey | RSAKey


class KeyMismatchError(ValueError):
    """A valid private key that does not fit the requested algorithm."""


@dataclass(frozen=True)
class SigningKey:
    """A private signing key with the one algorithm it is used with."""

    kid: str
    alg: str
    key: JoseKey

    def private_pem(self) -> str:
        return self.key.as_pem(private=True).decode("ascii")

    def public_jwk(self) -> dict[str, object]:
        jwk = self.key.as_dict(private=False, kid=self.kid, alg=self.alg, use="sig")
        return dict(jwk)


class SigningKeySet:
    """The active key signs; every key in `verification_keys` may still verify.

    Retired keys stay until every token they signed has expired (key rotation).
    """

    def __init__(self, active: SigningKey, retired: Iterable[SigningKey] = ()) -> None:
        keys = {key.kid: key for key in retired}
        keys[active.kid] = active
        self.active = active
        self.verification_keys: Mapping[str, SigningKey] = MappingProxyType(keys)

    @classmethod
    def single(cls, key: SigningKey) -> SigningKeySet:
        return cls(key)

    def current(self, kid: str | None = None) -> SigningKeySet:
        """A fixed set is its own provider."""
        return self

    def public_jwks(self) -> dict[str, object]:
        """RFC 7517 key set of the public halves only, for /.well-known/jwks.json."""
        return {"keys": [key.public_jwk() for key in self.verification_keys.values()]}


class KeySetProvider(Protocol):
    """Where the signer gets its keys on every use, so a rotation is picked up live."""

    def current(self, kid: str | None = None) -> SigningKeySet:
        """The keys now; `kid`, when given, is a key id a token names (it may be new)."""


def generate_signing_key(alg: str) -> SigningKey:
    _check_supported(alg)
    params: KeyParameters = {"alg": alg, "use": "sig"}
    key: JoseKey
    if alg == "ES256":
        key = ECKey.generate_key("P-256", parameters=params)
    elif alg == "EdDSA":
        key = OKPKey.generate_key("Ed25519", parameters=params)
    else:
        key = RSAKey.generate_key(RSA_KEY_SIZE, parameters=params)
    return _with_thumbprint_kid(key, alg)


def signing_key_from_pem(pem: str, alg: str) -> SigningKey:
    """Load a PKCS#8 (or traditional) unencrypted private key PEM for `alg`.

    Raises ValueError naming the mismatch when the key does not fit `alg`.
    """
    _check_supported(alg)
    try:
        native = load_pem_private_key(pem.encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise ValueError("signing key is not an unencrypted private key in PEM format") from exc
    params: KeyParameters = {"alg": alg, "use": "sig"}
    key: JoseKey
    if alg == "ES256":
        if not (
            isinstance(native, ec.EllipticCurvePrivateKey)
            and isinstance(native.curve, ec.SECP256R1)
        ):
            raise KeyMismatchError("ES256 needs an EC P-256 private key")
        key = ECKey.import_key(pem, parameters=params)
    elif alg == "EdDSA":
        if not isinstance(native, ed25519.Ed25519PrivateKey):
            raise KeyMismatchError("EdDSA needs an Ed25519 private key")
        key = OKPKey.import_key(pem, parameters=params)
    else:
        if not isinstance(native, rsa.RSAPrivateKey):
            raise KeyMismatchError("RS256 needs an RSA private key")
        if native.key_size < RSA_KEY_SIZE:
            raise KeyMismatchError(f"RS256 needs an RSA key of at least {RSA_KEY_SIZE} bits")
        key = RSAKey.import_key(pem, parameters=params)
    return _with_thumbprint_kid(key, alg)


def write_secret_once(path: Path, content: bytes) -> bytes:
    """Publish `content` at `path` (mode 0600) unless the file exists; return what is there.

    The file is written to a temporary name and hard-linked into place, so
    several workers starting at once never read a half-written file and all
    end up with the same secret.
    """
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return path.read_bytes()
        return content
    finally:
        os.unlink(tmp)


def _with_thumbprint_kid(key: JoseKey, alg: str) -> SigningKey:
    key.ensure_kid()  # RFC 7638 thumbprint of the public members
    kid = key.kid
    assert kid is not None
    return SigningKey(kid=kid, alg=alg, key=key)


def _check_supported(alg: str) -> None:
    if alg not in SUPPORTED_ALGORITHMS:
        raise ValueError(
            f"unsupported signing algorithm {alg!r}; use one of {', '.join(SUPPORTED_ALGORITHMS)}"
        )
