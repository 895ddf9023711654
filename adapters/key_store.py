"""The signing keys every instance sharing the database uses, cached in the process.

The database is the one place where keys live (sealed by key_encryption.py),
so all instances sign with the same active key and verify with the same set.
Reading it on every token would cost a query per request; instead the set is
kept in memory and reloaded at most every RELOAD_INTERVAL_SECONDS, so a
rotation made anywhere (`latchkey keys rotate`) reaches every instance within
that time. Between reloads each instance switches by its own clock, from the
keys it has loaded: a key published ahead starts signing at its `signs_from`,
and a retired one leaves once its retention is over, even while the database
is unreachable. Retired keys stay published long enough to cover the reload
delay (entrypoints/container.py adds it to their retention), and a new key is
published long enough before it signs (entrypoints/container.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from adapters.io_guard import allow_io
from adapters.key_encryption import SigningKeyCipher
from adapters.keys import SigningKey, SigningKeySet
from application.ports import Clock, UnitOfWorkFactory
from domain.errors import ServiceUnavailable
from domain.signing_key import SigningKeyRecord, current_key, published_keys, signing_key

RELOAD_INTERVAL_SECONDS = 5.0
# A token naming a kid we have not loaded may come from an instance that saw a
# rotation first: reload early, but at most this often (random kids cost nothing).
UNKNOWN_KID_RELOAD_GAP_SECONDS = 1.0

log = logging.getLogger(__name__)


class DatabaseKeySet:
    """A KeySetProvider over the `signing_keys` table.

    `ensure` creates the first key when the table has no active one (a fresh
    install); it must be safe to call from several workers at once.
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        cipher: SigningKeyCipher,
        clock: Clock,
        retention: timedelta,
        ensure: Callable[[], None],
        reload_interval: float = RELOAD_INTERVAL_SECONDS,
        unknown_kid_gap: float = UNKNOWN_KID_RELOAD_GAP_SECONDS,
    ) -> None:
        self._uow = uow
        self._cipher = cipher
        self._clock = clock
        self._retention = retention
        self._ensure = ensure
        self._interval = reload_interval
        self._unknown_kid_gap = unknown_kid_gap
        self._lock = threading.Lock()  # held by the one thread that reloads
        self._swap = threading.Lock()  # held only to install a state
        self._state: _State | None = None
        self._loaded_at = 0.0
        # Decrypting and parsing a key costs far more than reading its row.
        self._opened: dict[str, SigningKey] = {}

    def current(self, kid: str | None = None) -> SigningKeySet:
        state = self._state
        if state is not None and self._still_good(state.keys, kid):
            return self._on_time(state).keys
        allow_io()
        # One thread reloads; the others go on with the keys they have meanwhile.
        if not self._lock.acquire(blocking=state is None):
            assert state is not None
            return self._on_time(state).keys
        try:
            state = self._state
            if state is not None and self._still_good(state.keys, kid):
                return self._on_time(state).keys
            return self._reload()
        finally:
            self._lock.release()

    def _on_time(self, state: _State) -> _State:
        """By the clock, from the keys loaded: a key published ahead starts
        signing on time, and one past its publication leaves, even when a
        reload is late or the database is down."""
        if state.changes_at is None or self._clock.now() < state.changes_at:
            return state
        later = _State.of(state.loaded, self._clock.now(), self._retention)
        if later is None:  # cannot be, by construction: keep what works
            log.error("no signing key would sign: the keys loaded are kept")
            return state
        with self._swap:
            # Only over the state it was made from: never over a newer load,
            # whose keys are then the ones to use (a dropped key is not among them).
            if self._state is state:
                self._state = later
            return self._state or later

    def _still_good(self, keys: SigningKeySet, kid: str | None) -> bool:
        age = time.monotonic() - self._loaded_at
        if age >= self._interval:
            return False
        return kid is None or kid in keys.verification_keys or age < self._unknown_kid_gap

    def reload(self) -> SigningKeySet:
        """Read the keys now, whatever the cache says (tests, and after a rotation here)."""
        with self._lock:
            return self._reload()

    def _reload(self) -> SigningKeySet:
        try:
            state = self._load()
        except ServiceUnavailable:
            if self._state is None:
                raise
            # Keep signing and verifying with the keys we have; try again later.
            log.warning("signing keys could not be reloaded: the database is unavailable")
            state = self._on_time(self._state)
        with self._swap:
            self._state = state
        self._loaded_at = time.monotonic()
        return state.keys

    def _load(self) -> _State:
        records = self._read()
        if current_key(records) is None:
            self._ensure()
            records = self._read()
        # A key published ahead is among them: verifiers fetch it before it signs.
        now = self._clock.now()
        published = published_keys(records, now, self._retention)
        self._opened = {r.kid: self._open(r) for r in published}
        state = _State.of(tuple((r, self._opened[r.kid]) for r in published), now, self._retention)
        if state is None:
            raise RuntimeError("there is no active signing key")
        return state

    def _read(self) -> Sequence[SigningKeyRecord]:
        with self._uow() as uow:
            return uow.signing_keys.list_all()

    def _open(self, record: SigningKeyRecord) -> SigningKey:
        known = self._opened.get(record.kid)
        if known is not None and known.alg == record.alg:
            return known
        return self._cipher.open(record.kid, record.alg, record.sealed_private_key)


@dataclass(frozen=True)
class _State:
    """What an instance holds, as one value that threads replace, never change:
    the keys loaded (each with its record), the set they make now, and when
    that set next changes (a key starts signing, retires, or leaves the JWKS)."""

    loaded: tuple[tuple[SigningKeyRecord, SigningKey], ...]
    keys: SigningKeySet
    changes_at: datetime | None

    @classmethod
    def of(
        cls,
        loaded: tuple[tuple[SigningKeyRecord, SigningKey], ...],
        now: datetime,
        retention: timedelta,
    ) -> _State | None:
        published = tuple((r, key) for r, key in loaded if r.is_published(now, retention))
        active = signing_key([r for r, _ in published], now)
        if active is None:
            return None
        opened = {r.kid: key for r, key in published}
        others = [key for kid, key in opened.items() if kid != active.kid]
        instants = [r.starts_signing for r, _ in published]
        for r, _ in published:
            if r.retired_at is not None:
                instants += [r.retired_at, r.retired_at + retention]
        changes_at = min((t for t in instants if t > now), default=None)
        return cls(published, SigningKeySet(opened[active.kid], retired=others), changes_at)
