"""The signing keys every instance sharing the database uses, cached in the process.

The database is the one place where keys live (sealed by key_encryption.py),
so all instances sign with the same active key and verify with the same set.
Reading it on every token would cost a query per request; instead the set is
kept in memory and reloaded at most every RELOAD_INTERVAL_SECONDS, so a
rotation made anywhere (`latchkey keys rotate`) reaches every instance within
that time, and each starts signing with the new key within that time of its
`signs_from`. Retired keys stay published long enough to cover this delay
(entrypoints/container.py adds it to their retention), and a new key is
published that long before it signs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
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
        self._lock = threading.Lock()
        self._keys: SigningKeySet | None = None
        self._loaded_at = 0.0
        # Decrypting and parsing a key costs far more than reading its row.
        self._opened: dict[str, SigningKey] = {}
        # The keys last loaded, each with its record: one value, so that a
        # thread switching keys never pairs a record with another load's keys.
        self._loaded: list[tuple[SigningKeyRecord, SigningKey]] = []
        # When another loaded key starts signing (or the signing one retires).
        self._switch_at: datetime | None = None

    def current(self, kid: str | None = None) -> SigningKeySet:
        keys = self._keys
        if keys is not None and self._still_good(keys, kid):
            return self._on_time(keys)
        allow_io()
        # One thread reloads; the others go on with the keys they have meanwhile.
        if not self._lock.acquire(blocking=keys is None):
            assert keys is not None
            return self._on_time(keys)
        try:
            if self._keys is not None and self._still_good(self._keys, kid):
                return self._keys
            return self._reload()
        finally:
            self._lock.release()

    def _on_time(self, keys: SigningKeySet) -> SigningKeySet:
        """By the clock, from the keys loaded: a key published ahead starts
        signing on time even when a reload is late or the database is down."""
        switch_at = self._switch_at
        if switch_at is not None and self._clock.now() >= switch_at:
            return self._chosen(self._loaded)
        return keys

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
            keys = self._load()
        except ServiceUnavailable:
            if self._keys is None:
                raise
            # Keep signing and verifying with the keys we have; try again later.
            log.warning("signing keys could not be reloaded: the database is unavailable")
            keys = self._on_time(self._keys)
        self._keys = keys
        self._loaded_at = time.monotonic()
        return keys

    def _load(self) -> SigningKeySet:
        records = self._read()
        if current_key(records) is None:
            self._ensure()
            records = self._read()
        # A key published ahead is among them: verifiers fetch it before it signs.
        published = published_keys(records, self._clock.now(), self._retention)
        self._opened = {r.kid: self._open(r) for r in published}
        return self._chosen([(r, self._opened[r.kid]) for r in published])

    def _chosen(self, loaded: list[tuple[SigningKeyRecord, SigningKey]]) -> SigningKeySet:
        """The set with the key that signs now; remembered, with when that changes."""
        now = self._clock.now()
        active = signing_key([record for record, _ in loaded], now)
        if active is None:
            raise RuntimeError("there is no active signing key")
        opened = {record.kid: key for record, key in loaded}
        others = [key for kid, key in opened.items() if kid != active.kid]
        keys = SigningKeySet(opened[active.kid], retired=others)
        instants = [r.starts_signing for r, _ in loaded]
        instants += [r.retired_at for r, _ in loaded if r.retired_at is not None]
        self._loaded = loaded
        self._switch_at = min((t for t in instants if t > now), default=None)
        self._keys = keys
        return keys

    def _read(self) -> Sequence[SigningKeyRecord]:
        with self._uow() as uow:
            return uow.signing_keys.list_all()

    def _open(self, record: SigningKeyRecord) -> SigningKey:
        known = self._opened.get(record.kid)
        if known is not None and known.alg == record.alg:
            return known
        return self._cipher.open(record.kid, record.alg, record.sealed_private_key)
