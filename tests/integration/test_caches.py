"""The hot-path caches: a verified token is not verified again; sessions, users
and clients are read at most once a second; revocation stays visible (at once
for this process, within a second for others)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from adapters.caches import (
    CachedDirectory,
    CachedLiveSessions,
    CachedTokenVerifier,
    RecentAnswers,
    RevocationEpoch,
)
from application.ports import AccessClaims
from domain.errors import InvalidToken
from tests.fakes import T0, FakeSigner

LEEWAY = timedelta(seconds=10)


class CountingSigner(FakeSigner):
    def __init__(self) -> None:
        super().__init__()
        self.verifications = 0

    def verify(self, token: str, now: datetime) -> AccessClaims:
        self.verifications += 1
        return super().verify(token, now)


class StoreStub:
    """Stands in for every store a cache wraps: sessions, users and clients."""

    def __init__(self) -> None:
        self.answer: object = "live"
        self.reads = 0

    def live_until(self, session_id: UUID, user_id: UUID) -> object:
        self.reads += 1
        return self.answer

    def get(self, key: object) -> object:
        self.reads += 1
        return self.answer


class Ticker:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _token(signer: FakeSigner) -> str:
    token, _ = signer.issue(user_id=uuid4(), session_id=uuid4(), client_id="latchkey", now=T0)
    return token


def test_a_token_is_verified_once_and_then_answered_from_the_cache() -> None:
    inner = CountingSigner()
    cache = CachedTokenVerifier(inner, LEEWAY)
    token = _token(inner)
    first = cache.verify(token, T0)
    assert cache.verify(token, T0 + timedelta(seconds=60)) == first
    assert inner.verifications == 1


def test_a_cached_token_still_expires_beyond_the_leeway() -> None:
    inner = CountingSigner()
    cache = CachedTokenVerifier(inner, LEEWAY)
    token = _token(inner)
    cache.verify(token, T0)
    cache.verify(token, T0 + inner.ttl + LEEWAY)
    with pytest.raises(InvalidToken):
        cache.verify(token, T0 + inner.ttl + LEEWAY + timedelta(seconds=1))


def test_a_refused_token_is_not_cached() -> None:
    inner = CountingSigner()
    cache = CachedTokenVerifier(inner, LEEWAY)
    for _ in range(2):
        with pytest.raises(InvalidToken):
            cache.verify("garbage", T0)
    assert inner.verifications == 2


def test_the_token_cache_is_bounded() -> None:
    inner = CountingSigner()
    cache = CachedTokenVerifier(inner, LEEWAY, max_entries=3)
    tokens = [_token(inner) for _ in range(10)]
    for token in tokens:
        cache.verify(token, T0)
    assert len(cache._entries) <= 3


Ask = Callable[[int], object]


def _cache(kind: str, store: StoreStub, epoch: RevocationEpoch, ticker: Ticker, **kw: int) -> Ask:
    """One of the three read caches, as `ask(n)`: the answer for the n-th key."""
    keys = [(uuid4(), uuid4()) for _ in range(50)]
    inner: Any = store
    if kind == "sessions":
        sessions = CachedLiveSessions(inner, epoch, monotonic=ticker, **kw)
        return lambda n: sessions.live_until(*keys[n])
    directory: CachedDirectory[object, object] = CachedDirectory(
        inner, epoch, monotonic=ticker, **kw
    )
    if kind == "users":
        return lambda n: directory.get(keys[n][0])
    return lambda n: directory.get(f"client-{n}")


KINDS = ["sessions", "users", "clients"]


@pytest.mark.parametrize("kind", KINDS)
def test_an_answer_is_remembered_for_less_than_a_second(kind: str) -> None:
    store, ticker = StoreStub(), Ticker()
    ask = _cache(kind, store, RevocationEpoch(), ticker)
    ask(0)
    ticker.now += 0.9
    ask(0)
    assert store.reads == 1
    store.answer = None  # revoked or removed by another instance
    ticker.now += 0.2
    assert ask(0) is None
    assert store.reads == 2


@pytest.mark.parametrize("kind", KINDS)
def test_a_revocation_committed_by_this_process_is_seen_at_once(kind: str) -> None:
    store, epoch = StoreStub(), RevocationEpoch()
    ask = _cache(kind, store, epoch, Ticker())
    assert ask(0) is not None
    store.answer = None
    epoch.bump()
    assert ask(0) is None


@pytest.mark.parametrize("kind", KINDS)
def test_a_full_cache_forgets_rather_than_grows(kind: str) -> None:
    store = StoreStub()
    ask = _cache(kind, store, RevocationEpoch(), Ticker(), max_entries=5)
    for n in range(20):
        ask(n)
    assert store.reads == 20
    ask(19)  # among the few kept
    assert store.reads == 20
    ask(0)  # long since dropped to stay within 5 entries: read again
    assert store.reads == 21


def test_expired_answers_are_swept_away_rather_than_kept_until_the_cache_fills() -> None:
    ticker = Ticker()
    answers: RecentAnswers[int, str] = RecentAnswers(RevocationEpoch(), 1.0, 100, ticker)
    for key in range(10):
        answers.get(key, lambda: "answer")
    assert len(answers) == 10
    ticker.now += 30
    answers.get(99, lambda: "answer")
    assert len(answers) == 1
