"""Opaque refresh tokens, the keyed hashes the database stores, and successor seals."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from adapters.keys import write_secret_once
from domain.errors import InvalidRefreshToken

TOKEN_BYTES = 32  # 256 bits from the OS CSPRNG
MIN_KEY_BYTES = 32
MAX_SUCCESSOR_BYTES = 1024

# Version 2: AES-256-GCM. Version 1 (a hand-made HKDF pad and HMAC tag) is
# not read: a seal matters only within the grace window of its rotation.
_SEAL_VERSION = b"\x02"
_NONCE_BYTES = 12
_TAG_BYTES = 16
_SEAL_INFO = b"latchkey successor seal v2"
# A refresh token is URL-safe base64 and never starts with NUL, so this label
# can never be the digest of a token that the database holds.
_SALT_LABEL = b"\x00latchkey seal salt"


class HmacRefreshTokenCodec:
    """Tokens are stored only as HMAC-SHA256 under a server key (`digest`).

    `seal` keeps the successor of a rotated token so that a retry within the
    grace window gets the same successor back. The successor is encrypted
    with AES-256-GCM under a key derived (HKDF-SHA256) from the parent token
    itself, which the database never holds, and from the server key: a leak
    of seals and hashes yields no usable token, and a wrong parent or a
    damaged seal fails the GCM tag. Each parent is a 256-bit random token
    sealed once (rotation is compare-and-set), so its key encrypts one
    message; the random nonce is there all the same.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"refresh token hash key must be at least {MIN_KEY_BYTES} bytes")
        self._key = key
        # Binding the seal to the server key too: a stolen parent alone, without
        # this salt, does not open a seal taken from a database dump.
        self._seal_salt = hmac.new(key, _SALT_LABEL, hashlib.sha256).digest()

    def new_token(self) -> str:
        return secrets.token_urlsafe(TOKEN_BYTES)

    def digest(self, token: str) -> str:
        return hmac.new(self._key, token.encode("utf-8"), hashlib.sha256).hexdigest()

    def seal(self, parent: str, successor: str) -> bytes:
        plaintext = successor.encode("utf-8")
        if len(plaintext) > MAX_SUCCESSOR_BYTES:
            raise ValueError("successor token is too long to seal")
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._cipher(parent).encrypt(nonce, plaintext, _SEAL_VERSION)
        return _SEAL_VERSION + nonce + sealed

    def unseal(self, parent: str, seal: bytes) -> str:
        header = len(_SEAL_VERSION) + _NONCE_BYTES
        if len(seal) < header + _TAG_BYTES or not seal.startswith(_SEAL_VERSION):
            raise InvalidRefreshToken("successor seal is malformed")
        nonce, sealed = seal[len(_SEAL_VERSION) : header], seal[header:]
        try:
            plaintext = self._cipher(parent).decrypt(nonce, sealed, _SEAL_VERSION)
        except InvalidTag:
            raise InvalidRefreshToken("successor seal does not open with this token") from None
        try:
            return plaintext.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidRefreshToken("successor seal is malformed") from exc

    def _cipher(self, parent: str) -> AESGCM:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=self._seal_salt, info=_SEAL_INFO
        ).derive(parent.encode("utf-8"))
        return AESGCM(key)


def load_or_create_secret(path: Path) -> bytes:
    """Development default for the hash key: 32 random bytes kept in `path` (mode 0600)."""
    secret = write_secret_once(path, secrets.token_bytes(MIN_KEY_BYTES))
    if len(secret) < MIN_KEY_BYTES:
        raise ValueError(f"{path} holds fewer than {MIN_KEY_BYTES} bytes; delete it to regenerate")
    return secret
