"""Opaque refresh tokens, the keyed hashes the database stores, and successor seals."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from adapters.keys import write_secret_once
from domain.errors import InvalidRefreshToken

TOKEN_BYTES = 32  # 256 bits from the OS CSPRNG
MIN_KEY_BYTES = 32
MAX_SUCCESSOR_BYTES = 1024

_SEAL_VERSION = b"\x01"
_NONCE_BYTES = 16
_TAG_BYTES = 16
_SEAL_INFO = b"latchkey successor seal"
# A refresh token is URL-safe base64 and never starts with NUL, so this label
# can never be the digest of a token that the database holds.
_SALT_LABEL = b"\x00latchkey seal salt"


class HmacRefreshTokenCodec:
    """Tokens are stored only as HMAC-SHA256 under a server key (`digest`).

    `seal` keeps the successor of a rotated token so that a retry within the
    grace window gets the same successor back. The successor is XORed with a
    pad derived (HKDF-SHA256) from the parent token itself, which the database
    never holds: a leak of seals and hashes yields no usable token. The pad is
    a PRF output keyed by 256 unknown bits; a parent is stored with exactly one
    seal (rotate is compare-and-set, the seals of racing losers are
    discarded), and a fresh nonce per seal means a pad never repeats even if a
    parent were sealed twice, so the XOR is a true one-time pad. A tag under a
    second derived key makes a wrong parent or a damaged seal fail loudly.
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
        mac_key, pad = self._derive(parent, nonce, len(plaintext))
        body = _SEAL_VERSION + nonce + bytes(a ^ b for a, b in zip(plaintext, pad, strict=True))
        return body + hmac.new(mac_key, body, hashlib.sha256).digest()[:_TAG_BYTES]

    def unseal(self, parent: str, seal: bytes) -> str:
        header = len(_SEAL_VERSION) + _NONCE_BYTES
        if len(seal) < header + _TAG_BYTES or not seal.startswith(_SEAL_VERSION):
            raise InvalidRefreshToken("successor seal is malformed")
        body, tag = seal[:-_TAG_BYTES], seal[-_TAG_BYTES:]
        nonce, ciphertext = body[len(_SEAL_VERSION) : header], body[header:]
        mac_key, pad = self._derive(parent, nonce, len(ciphertext))
        expected = hmac.new(mac_key, body, hashlib.sha256).digest()[:_TAG_BYTES]
        if not hmac.compare_digest(tag, expected):
            raise InvalidRefreshToken("successor seal does not open with this token")
        try:
            return bytes(a ^ b for a, b in zip(ciphertext, pad, strict=True)).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidRefreshToken("successor seal is malformed") from exc

    def _derive(self, parent: str, nonce: bytes, length: int) -> tuple[bytes, bytes]:
        okm = HKDF(
            algorithm=hashes.SHA256(),
            length=32 + length,
            salt=self._seal_salt,
            info=_SEAL_INFO + nonce,
        ).derive(parent.encode("utf-8"))
        return okm[:32], okm[32:]


def load_or_create_secret(path: Path) -> bytes:
    """Development default for the hash key: 32 random bytes kept in `path` (mode 0600)."""
    secret = write_secret_once(path, secrets.token_bytes(MIN_KEY_BYTES))
    if len(secret) < MIN_KEY_BYTES:
        raise ValueError(f"{path} holds fewer than {MIN_KEY_BYTES} bytes; delete it to regenerate")
    return secret
