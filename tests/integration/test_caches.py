"""The hot-path caches: a verified token is not verified again; sessions, users
and clients are read at most once a second; revocation stays visible (at once
for this process, within a second for others)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters import caches
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
    """Stands in for every store a cache wraps: sessions, users and clients.
    Each call is one read, whether of one key or of many."""

    def __init__(self) -> None:
        self.answer: object = "live"
        self.reads = 0
        self.batches: list[int] = []

    def live_until(self, session_id: UUID, user_id: UUID) -> object:
        self.reads += 1
        return self.answer

    def live_until_many(self, keys: list[object]) -> dict[object, object]:
        return self.get_many(keys)

    def get(self, key: object) -> object:
        self.reads += 1
        return self.answer

    def get_many(self, keys: list[object]) -> dict[object, object]:
        self.reads += 1
        self.batches.append(len(keys))
        return dict.fromkeys(keys, self.answer)


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


def _cache(
    kind: str,
    store: StoreStub,
    epoch: RevocationEpoch,
    ticker: Ticker,
    max_entries: int = caches.MAX_ENTRIES,
) -> Ask:
    """One of the three read caches, as `ask(n)`: the answer for the n-th key."""
    keys = [(uuid4(), uuid4()) for _ in range(50)]
    inner: Any = store
    if kind == "sessions":
        sessions = CachedLiveSessions(inner, epoch, monotonic=ticker, max_entries=max_entries)
        return lambda n: sessions.live_until(*keys[n])
    if kind == "users":
        users: CachedDirectory[object, object] = CachedDirectory(
            inner, epoch, read_many=store.get_many, monotonic=ticker, max_entries=max_entries
        )
        return lambda n: users.get(keys[n][0])
    clients: CachedDirectory[object, object] = CachedDirectory(
        inner, epoch, monotonic=ticker, max_entries=max_entries
    )
    return lambda n: clients.get(f"client-{n}")


KINDS = ["sessions", "users", "clients"]
# The caches whose store reads many keys at once (the hot path of /v1/users/me).
BATCHED = ["sessions", "users"]


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


@pytest.mark.parametrize("kind", BATCHED)
def test_the_answers_in_use_are_renewed_together_in_one_read(kind: str) -> None:
    store, ticker = StoreStub(), Ticker()
    ask = _cache(kind, store, RevocationEpoch(), ticker)
    for n in range(32):
        ask(n)
    ticker.now += 0.6  # past half their age: each use marks the answer due
    for n in range(32):
        ask(n)
    assert store.reads == 32
    ticker.now += 0.5  # all expired: the first miss renews every one in use
    for n in range(32):
        ask(n)
    assert store.reads == 33
    assert store.batches[-1] == 32


@pytest.mark.parametrize("kind", BATCHED)
def test_answers_not_used_in_the_second_half_of_their_age_are_not_renewed(kind: str) -> None:
    store, ticker = StoreStub(), Ticker()
    ask = _cache(kind, store, RevocationEpoch(), ticker)
    ask(0), ask(1)
    ticker.now += 0.3  # used, but not yet due
    ask(1)
    ticker.now += 0.8
    ask(0)
    assert store.batches[-1] == 1


def test_a_failed_read_changes_nothing_and_the_due_keys_stay_due() -> None:
    ticker, calls = Ticker(), []

    def read_many(keys: list[int]) -> dict[int, str]:
        calls.append(list(keys))
        if len(calls) == 3:
            raise ConnectionError("database unreachable")
        return dict.fromkeys(keys, "answer")

    answers: RecentAnswers[int, str] = RecentAnswers(RevocationEpoch(), 1.0, 100, ticker, read_many)
    answers.get(1, lambda: "unused"), answers.get(2, lambda: "unused")
    ticker.now += 0.7
    answers.get(2, lambda: "unused")
    with pytest.raises(ConnectionError):
        answers.get(3, lambda: "unused")
    assert answers.get(3, lambda: "unused") == "answer"
    assert calls[-1] == [3, 2]


def test_one_read_renews_a_bounded_number_of_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(caches, "MAX_BATCH", 4)
    store, ticker = StoreStub(), Ticker()
    ask = _cache("users", store, RevocationEpoch(), ticker)
    for n in range(10):
        ask(n)
    ticker.now += 0.6
    for n in range(10):
        ask(n)
    ticker.now += 0.5
    ask(0)
    assert store.batches[-1] == 4


class ChangingStore:
    """A store whose answers change over time, remembering every value each key had."""

    def __init__(self, ticker: Ticker) -> None:
        self._ticker = ticker
        self.history: dict[int, list[tuple[float, int]]] = {}

    def change(self, key: int, value: int) -> None:
        self.history.setdefault(key, [(0.0, 0)]).append((self._ticker.now, value))

    def value(self, key: int) -> int:
        return self.history.get(key, [(0.0, 0)])[-1][1]

    def read_many(self, keys: list[int]) -> dict[int, int]:
        return {key: self.value(key) for key in keys}

    def held_within(self, key: int, since: float, until: float) -> set[int]:
        """The values `key` had at some moment of (since, until]."""
        changes = self.history.get(key, [(0.0, 0)])
        held = {value for at, value in changes if since < at <= until}
        before = [value for at, value in changes if at <= since]
        return held | set(before[-1:])


STEPS = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=0.7),  # time passing
        st.integers(min_value=0, max_value=5),  # the key asked for
        st.booleans(),  # whether the store changes that key first
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(steps=STEPS)
def test_no_answer_is_older_than_the_ttl_however_keys_are_renewed(
    steps: list[tuple[float, int, bool]],
) -> None:
    ticker = Ticker()
    store = ChangingStore(ticker)
    answers: RecentAnswers[int, int] = RecentAnswers(
        RevocationEpoch(), 1.0, 100, ticker, store.read_many
    )
    for elapsed, key, change in steps:
        ticker.now += elapsed
        if change:
            store.change(key, store.value(key) + 1)
        answer = answers.get(key, lambda: -1)
        assert answer in store.held_within(key, ticker.now - 1.0, ticker.now)
