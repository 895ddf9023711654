"""Private signing keys encrypted at rest, so that they can live in the shared database.

AES-256-GCM under a key derived (HKDF-SHA256) from LATCHKEY_KEY_ENCRYPTION_KEY.
The key id and algorithm are bound in as associated data: a sealed key copied
onto another row does not open.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from adapters.keys import SigningKey, generate_signing_key, signing_key_from_pem
from application.ports import NewSigningKey
from domain.signing_key import SigningKeyRecord

MIN_KEY_BYTES = 32
_VERSION = b"\x01"
_NONCE_BYTES = 12
_TAG_BYTES = 16
_INFO = b"latchkey signing key encryption"


class KeyDecryptionError(ValueError):
    """A stored key that does not open: a wrong key-encryption key, or a damaged row."""


class SeedKeyError(ValueError):
    """The configured first key is no private key in PEM, or does not fit the algorithm."""


class SigningKeyCipher:
    """Seals under `key_encryption_key`; opens under it or under `other`.

    While the key-encryption key is being replaced, every instance knows both
    (docs/deployment.md): any key opens everywhere, whichever sealed it and
    whether or not `latchkey keys reseal` ran yet.
    """

    def __init__(self, key_encryption_key: bytes, other: bytes | None = None) -> None:
        self._aead = _aead(key_encryption_key)
        self._openers = [self._aead] + ([_aead(other)] if other is not None else [])
        self._not_the_key = (
            "neither LATCHKEY_KEY_ENCRYPTION_KEY nor LATCHKEY_OTHER_KEY_ENCRYPTION_KEY is"
            if other is not None
            else "LATCHKEY_KEY_ENCRYPTION_KEY is not"
        )

    def seal(self, key: SigningKey) -> bytes:
        # A random 96-bit nonce per seal: keys are sealed a handful of times in
        # a deployment's life, far below the birthday bound of GCM nonces.
        nonce = secrets.token_bytes(_NONCE_BYTES)
        plaintext = key.private_pem().encode("ascii")
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, _bound_to(key.kid, key.alg))

    def open(self, kid: str, alg: str, sealed: bytes) -> SigningKey:
        header = len(_VERSION) + _NONCE_BYTES
        if len(sealed) < header + _TAG_BYTES or not sealed.startswith(_VERSION):
            raise KeyDecryptionError(f"signing key {kid} is not a sealed key")
        nonce, ciphertext = sealed[len(_VERSION) : header], sealed[header:]
        pem = _first_opening(self._openers, nonce, ciphertext, _bound_to(kid, alg))
        if pem is None:
            raise KeyDecryptionError(
                f"signing key {kid} does not decrypt: {self._not_the_key} "
                "the key it was stored with"
            )
        key = signing_key_from_pem(pem.decode("ascii"), alg)
        if key.kid != kid:
            raise KeyDecryptionError(f"signing key {kid} holds another key")
        return key


class SealedKeyFactory:
    """Makes new keys for the configured algorithm, sealed for storage.

    `seed_pem` (LATCHKEY_SIGNING_KEY) becomes the first key of a fresh install,
    so a deployment that had a configured key keeps verifying its tokens.
    """

    def __init__(self, cipher: SigningKeyCipher, alg: str, seed_pem: str | None = None) -> None:
        self._cipher = cipher
        self.alg = alg
        self._seed_pem = seed_pem

    def generate(self) -> NewSigningKey:
        return self._sealed(generate_signing_key(self.alg))

    def initial(self) -> NewSigningKey:
        """The seed, or a new key without one. The seed is read only here: once
        a first key exists it is never used again, whatever it holds."""
        if not self._seed_pem:
            return self.generate()
        try:
            seed = signing_key_from_pem(self._seed_pem, self.alg)
        except ValueError as error:
            raise SeedKeyError(str(error)) from None
        return self._sealed(seed)

    def resealed(self, key: SigningKeyRecord) -> bytes:
        return self._cipher.seal(self._cipher.open(key.kid, key.alg, key.sealed_private_key))

    def _sealed(self, key: SigningKey) -> NewSigningKey:
        return NewSigningKey(kid=key.kid, alg=key.alg, sealed_private_key=self._cipher.seal(key))


def _aead(key_encryption_key: bytes) -> AESGCM:
    if len(key_encryption_key) < MIN_KEY_BYTES:
        raise ValueError(f"the key-encryption key must be at least {MIN_KEY_BYTES} bytes")
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        key_encryption_key
    )
    return AESGCM(derived)


def _first_opening(
    openers: Sequence[AESGCM], nonce: bytes, ciphertext: bytes, bound_to: bytes
) -> bytes | None:
    for aead in openers:
        try:
            return aead.decrypt(nonce, ciphertext, bound_to)
        except InvalidTag:
            continue
    return None


def _bound_to(kid: str, alg: str) -> bytes:
    return f"latchkey signing key|{kid}|{alg}".encode()
