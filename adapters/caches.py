"""In-process caches on the hot path of every authenticated request.

Verifying a JWT signature and reading the session (and, for a profile or an
introspection, the account or the calling client) on every request would make
each call cost a public-key operation and database round trips. The answers
are cached, bounded in size, and revocation stays visible: at once for
revocations this process commits (the RevocationEpoch), as soon as this
process hears of those committed elsewhere (another worker or instance, the
CLI: adapters/sql/revocation_notices.py moves the epoch), and within one
second should it hear nothing.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
import time
from collections.abc import Callable, Collection, Hashable, Mapping
from datetime import datetime, timedelta
from typing import Generic, Protocol, TypeVar, runtime_checkable
from uuid import UUID

from adapters.io_guard import allow_io
from application.ports import (
    AccessClaims,
    AccessTokenSigner,
    LiveSessions,
)
from domain.errors import InvalidToken

LIVENESS_TTL_SECONDS = 1.0
MAX_ENTRIES = 100_000
SWEEP_EVERY_SECONDS = 10.0
# For service clients (entrypoints/container.py): unknown ids are cached too.
MAX_CLIENT_ENTRIES = 10_000
# Keys renewed by one read at most: the query's IN list and its time stay small.
MAX_BATCH = 500
# Tokens longer than this are refused by the signer without parsing; never cached.
MAX_CACHED_TOKEN_LENGTH = 8192


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
K_in = TypeVar("K_in", bound=Hashable, contravariant=True)
V_out = TypeVar("V_out", covariant=True)


class RevocationEpoch:
    """Changes whenever this process commits a revocation or hears of one
    committed elsewhere, so caches forget at once."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self.value = 0
        # Names this process in its revocation notices, so that it can tell
        # its own (already counted) from the others' (revocation_notices.py).
        self.source = secrets.token_hex(8)

    def bump(self) -> None:
        # next() on a count is atomic under the GIL, unlike `+= 1`.
        self.value = next(self._counter)


class RecentAnswers(Generic[K, V]):
    """Answers of a store, each remembered for at most `ttl_seconds` and
    forgotten at once when the revocation epoch moves.

    With `together`, a miss also renews, in the same read, the answers past
    half their age that were used since then. The keys in use then come due
    together, and a second costs one read of the store instead of one per key.
    Measured on `/v1/users/me` with 32 tokens in use: the per-key misses kept
    the worker threads at about a tenth of the CPU; now they stay idle. No
    answer is older than `ttl_seconds` either way: each is stamped with the
    time its read started.
    """

    def __init__(
        self,
        epoch: RevocationEpoch,
        ttl_seconds: float,
        max_entries: int,
        monotonic: Callable[[], float],
        read_many: Callable[[list[K]], Mapping[K, V]],
        *,
        together: bool = True,
    ) -> None:
        self._epoch = epoch
        self._ttl = ttl_seconds
        self._max = max_entries
        self._monotonic = monotonic
        self._read_many = read_many
        self._together = together
        self._entries: dict[K, tuple[float, int, V]] = {}
        # Keys used past half their answer's age: renewed with the next miss.
        self._due: dict[K, None] = {}
        self._next_sweep = monotonic() + SWEEP_EVERY_SECONDS

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V:
        checked = self._monotonic()
        if checked >= self._next_sweep:
            self._sweep(checked)
        # Read before asking the store: a revocation committed meanwhile bumps
        # the epoch past this value, so the entry is stale on its next lookup.
        epoch = self._epoch.value
        entry = self._entries.get(key)
        if entry is not None and entry[1] == epoch:
            age = checked - entry[0]
            if age < self._ttl:
                if self._together and age * 2 >= self._ttl:
                    self._due[key] = None
                return entry[2]
        allow_io()  # on the event loop, re-run in a thread before any work is done
        keys = [key, *self._take_due(key)]
        # Should the read fail, the due keys it took are not put back: each is
        # then read on its own next miss, so one bad key fails only its own.
        answers = self._read_many(keys)
        for k in keys:
            self._remember(k, (checked, epoch, answers[k]))
        return answers[key]

    def _take_due(self, key: K) -> list[K]:
        if not self._together:
            return []
        # Taken out before the read, so that misses meanwhile (the keys renewed
        # together expire together) do not read the same batch again. The copy
        # is made in C, without a thread switch.
        due = list(itertools.islice(self._due, MAX_BATCH))
        for k in due:
            self._due.pop(k, None)
        return [k for k in due if k != key]

    def _remember(self, key: K, entry: tuple[float, int, V]) -> None:
        if len(self._entries) >= self._max and key not in self._entries:
            # Dropping everything is crude but bounded and O(1) amortised; the
            # next second refills what is actually in use.
            self._entries.clear()
            self._due.clear()
        self._entries[key] = entry

    def _sweep(self, now: float) -> None:
        # Expired entries would otherwise stay until the cache fills: memory
        # held for nothing (and account data kept longer than it is used).
        self._next_sweep = now + SWEEP_EVERY_SECONDS
        for key, entry in list(self._entries.items()):
            if now - entry[0] >= self._ttl:
                self._entries.pop(key, None)
                self._due.pop(key, None)


class LiveSessionsStore(LiveSessions, Protocol):
    def live_until_many(
        self, keys: Collection[tuple[UUID, UUID]]
    ) -> Mapping[tuple[UUID, UUID], datetime | None]: ...


class CachedLiveSessions:
    """LiveSessions that remembers each answer for at most `ttl_seconds`, the
    answers in use renewed together (RecentAnswers)."""

    def __init__(
        self,
        inner: LiveSessionsStore,
        epoch: RevocationEpoch,
        *,
        ttl_seconds: float = LIVENESS_TTL_SECONDS,
        max_entries: int = MAX_ENTRIES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._answers: RecentAnswers[tuple[UUID, UUID], datetime | None] = RecentAnswers(
            epoch, ttl_seconds, max_entries, monotonic, inner.live_until_many
        )

    def live_until(self, session_id: UUID, user_id: UUID) -> datetime | None:
        return self._answers.get((session_id, user_id))


class Directory(Protocol[K_in, V_out]):
    def get(self, key: K_in, /) -> V_out: ...


@runtime_checkable
class ManyAtOnce(Protocol[K, V_out]):
    """A Directory that can also read many ids in one go."""

    def get_many(self, keys: list[K], /) -> Mapping[K, V_out]: ...


def _one_at_a_time(inner: Directory[K, V]) -> Callable[[list[K]], Mapping[K, V]]:
    def read(keys: list[K]) -> Mapping[K, V]:
        return {key: inner.get(key) for key in keys}

    return read


class CachedDirectory(Generic[K, V]):
    """A lookup by id (UserDirectory, ServiceClientDirectory) that remembers each
    answer for at most `ttl_seconds`, like session liveness.

    Accounts: a deleted account's sessions go with it, so its tokens are
    refused by the liveness rule as a revocation is. Service clients: one
    removed (the CLI, another process) counts as a revocation does, at once
    where its notice is heard; one given a new secret, within that time. When
    the store has `get_many` (accounts), the answers in use are renewed
    together (RecentAnswers).
    """

    def __init__(
        self,
        inner: Directory[K, V],
        epoch: RevocationEpoch,
        *,
        ttl_seconds: float = LIVENESS_TTL_SECONDS,
        max_entries: int = MAX_ENTRIES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(inner, ManyAtOnce):
            read_many, together = inner.get_many, True
        else:
            read_many, together = _one_at_a_time(inner), False
        self._answers: RecentAnswers[K, V] = RecentAnswers(
            epoch, ttl_seconds, max_entries, monotonic, read_many, together=together
        )

    def get(self, key: K) -> V:
        return self._answers.get(key)


class KeyedVerifier(AccessTokenSigner, Protocol):
    """A signer that names the key behind a token, and says whether it still trusts it."""

    def signed_by(self, token: str) -> str: ...

    def still_trusts(self, kid: str) -> bool: ...


class CachedTokenVerifier:
    """An AccessTokenSigner that verifies each distinct token once, until it
    expires or its key is dropped.

    Entries are keyed by the token's SHA-256, so no bearer token is kept in memory.
    """

    def __init__(
        self, inner: KeyedVerifier, leeway: timedelta, *, max_entries: int = MAX_ENTRIES
    ) -> None:
        self._inner = inner
        self._leeway = leeway
        self._max = max_entries
        self._entries: dict[bytes, tuple[AccessClaims, str]] = {}

    def issue(
        self,
        *,
        user_id: UUID,
        session_id: UUID,
        client_id: str,
        now: datetime,
        not_after: datetime | None = None,
    ) -> tuple[str, datetime]:
        return self._inner.issue(
            user_id=user_id,
            session_id=session_id,
            client_id=client_id,
            now=now,
            not_after=not_after,
        )

    def verify(self, token: str, now: datetime) -> AccessClaims:
        if len(token) > MAX_CACHED_TOKEN_LENGTH:
            return self._inner.verify(token, now)
        key = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        entry = self._entries.get(key)
        if entry is not None:
            claims, kid = entry
            if now > claims.expires_at + self._leeway:
                self._entries.pop(key, None)
                raise InvalidToken("access token expired")
            if not self._inner.still_trusts(kid):
                self._entries.pop(key, None)
                raise InvalidToken("access token names an unknown key")
            return claims
        claims = self._inner.verify(token, now)
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[key] = (claims, self._inner.signed_by(token))
        return claims
