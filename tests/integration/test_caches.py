"""The hot-path caches: a verified token is not verified again, and revocation
stays visible (at once for this process, within a second for others)."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID, uuid4

import pytest

from adapters.caches import CachedLiveSessions, CachedTokenVerifier, RevocationEpoch
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
    def __init__(self) -> None:
        self.answer: datetime | None = T0 + timedelta(days=1)
        self.reads = 0

    def live_until(self, session_id: UUID, user_id: UUID) -> datetime | None:
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


def test_session_liveness_is_remembered_for_less_than_a_second() -> None:
    store, ticker = StoreStub(), Ticker()
    cache = CachedLiveSessions(store, RevocationEpoch(), monotonic=ticker)
    sid, uid = uuid4(), uuid4()
    cache.live_until(sid, uid)
    ticker.now += 0.9
    cache.live_until(sid, uid)
    assert store.reads == 1
    store.answer = None  # revoked by another instance
    ticker.now += 0.2
    assert cache.live_until(sid, uid) is None
    assert store.reads == 2


def test_a_revocation_committed_by_this_process_is_seen_at_once() -> None:
    store, epoch = StoreStub(), RevocationEpoch()
    cache = CachedLiveSessions(store, epoch, monotonic=Ticker())
    sid, uid = uuid4(), uuid4()
    assert cache.live_until(sid, uid) is not None
    store.answer = None
    epoch.bump()
    assert cache.live_until(sid, uid) is None


def test_the_liveness_cache_is_bounded() -> None:
    cache = CachedLiveSessions(StoreStub(), RevocationEpoch(), max_entries=5, monotonic=Ticker())
    for _ in range(20):
        cache.live_until(uuid4(), uuid4())
    assert len(cache._entries) <= 5
