"""Signing keys of access tokens: which key signs, when a new one starts, and how
long a retired key stays published.

Keys are numbered by `generation`. A rotation adds generation n + 1, which is
published in the JWKS at once but signs only from `signs_from`, a publication
delay later: a verifier that cached the JWKS just before the rotation (for as
long as its Cache-Control allows) has fetched it again by then, so a verifier
that honours the cache's max-age meets no token whose key it does not know.
The older keys retire at that same instant, so exactly one key signs at any
time. A rotation at once (a key that leaked) makes `signs_from` the rotation's
own time.

A retired key stays in the JWKS for `retention` (the access token lifetime
plus the clock leeway plus the time instances take to notice a rotation), so
every token it signed can still be verified until it expires; then it is dropped.
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
    # None for keys stored before keys were published ahead: they signed at once.
    signs_from: datetime | None = None

    @property
    def starts_signing(self) -> datetime:
        return self.created_at if self.signs_from is None else self.signs_from

    @property
    def is_current(self) -> bool:
        """Not retired: the newest key, signing or about to."""
        return self.retired_at is None

    def signs_at(self, now: datetime) -> bool:
        return self.starts_signing <= now and (self.retired_at is None or now < self.retired_at)

    def published_until(self, retention: timedelta) -> datetime | None:
        """When the key leaves the JWKS; None while it is current."""
        return None if self.retired_at is None else self.retired_at + retention

    def is_published(self, now: datetime, retention: timedelta) -> bool:
        until = self.published_until(retention)
        return until is None or now < until

    def status(self, now: datetime, retention: timedelta) -> str:
        """pending (published, not signing yet), active (signs), retired (still
        published for its tokens) or dropped (no longer published)."""
        if self.signs_at(now):
            return "active"
        if not self.is_published(now, retention):
            return "dropped"
        if self.retired_at is not None and self.retired_at <= now:
            return "retired"  # a key overtaken before it signed included
        return "pending"


def published_keys(
    records: Iterable[SigningKeyRecord], now: datetime, retention: timedelta
) -> list[SigningKeyRecord]:
    """The keys a verifier may meet, newest first: the pending one included."""
    live = [r for r in records if r.is_published(now, retention)]
    return sorted(live, key=lambda r: r.generation, reverse=True)


def signing_key(records: Iterable[SigningKeyRecord], now: datetime) -> SigningKeyRecord | None:
    """The key that signs at `now`, or None when there is none (a fresh install).

    Before any key has started by this clock, the oldest unretired one signs:
    an instance whose clock is behind that of the one that made the first key
    must not be left without a key. A rotation needs no such rule: the old key
    signs until the very instant the new one starts, whatever the clock.
    """
    unretired = [r for r in records if r.retired_at is None or now < r.retired_at]
    started = [r for r in unretired if r.starts_signing <= now]
    if started:
        return max(started, key=lambda r: r.generation)
    return min(unretired, key=lambda r: r.generation, default=None)


def current_key(records: Iterable[SigningKeyRecord]) -> SigningKeyRecord | None:
    """The newest unretired key (pending or signing), or None when every key is retired."""
    current = [r for r in records if r.is_current]
    return max(current, key=lambda r: r.generation, default=None)


def next_generation(records: Iterable[SigningKeyRecord]) -> int:
    return max((r.generation for r in records), default=0) + 1
