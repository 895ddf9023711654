"""Signing keys of access tokens: which key signs, and how long a retired key stays published.

Keys are numbered by `generation`: a rotation adds generation n + 1 and retires
every older key. The newest unretired key signs. A retired key stays in the
JWKS for `retention` (the access token lifetime plus the clock leeway plus the
time instances take to notice a rotation), so every token it signed can still
be verified until it expires; after that it is dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class SigningKeyRecord:
    """One stored key. `sealed_private_key` is encrypted; only an adapter can open it."""

    kid: str
    alg: str
    generation: int
    sealed_private_key: bytes
    created_at: datetime
    retired_at: datetime | None = None

    @property
    def is_active(self) -> bool:
        return self.retired_at is None

    def published_until(self, retention: timedelta) -> datetime | None:
        """When the key leaves the JWKS; None while it is active."""
        return None if self.retired_at is None else self.retired_at + retention

    def is_published(self, now: datetime, retention: timedelta) -> bool:
        until = self.published_until(retention)
        return until is None or now < until


def published_keys(
    records: Iterable[SigningKeyRecord], now: datetime, retention: timedelta
) -> list[SigningKeyRecord]:
    """The keys a verifier may still meet, newest first."""
    live = [r for r in records if r.is_published(now, retention)]
    return sorted(live, key=lambda r: r.generation, reverse=True)


def signing_key(records: Iterable[SigningKeyRecord]) -> SigningKeyRecord | None:
    """The newest active key, or None when there is none (a fresh install)."""
    active = [r for r in records if r.is_active]
    return max(active, key=lambda r: r.generation, default=None)


def next_generation(records: Iterable[SigningKeyRecord]) -> int:
    return max((r.generation for r in records), default=0) + 1
