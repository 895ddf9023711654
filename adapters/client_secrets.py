"""Secrets of service clients: random, shown once, stored as a keyed SHA-256.

A slow password hash (Argon2) would protect nothing here: the secrets carry
256 random bits, so no dictionary or brute force applies, and every
introspection request would pay for it (PERFORMANCE.md).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SECRET_BYTES = 32  # 256 bits from the OS CSPRNG
MIN_KEY_BYTES = 32
# The server key is shared with the refresh-token hashes; a label of its own
# keeps the two kinds of digest apart.
_LABEL = b"latchkey client secret"


class HmacClientSecrets:
    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"client secret hash key must be at least {MIN_KEY_BYTES} bytes")
        self._key = hmac.new(key, _LABEL, hashlib.sha256).digest()

    def new_secret(self) -> str:
        return secrets.token_urlsafe(SECRET_BYTES)

    def digest(self, secret: str) -> str:
        return hmac.digest(self._key, secret.encode("utf-8"), "sha256").hex()

    def matches(self, secret: str, digest: str) -> bool:
        return hmac.compare_digest(self.digest(secret), digest)
