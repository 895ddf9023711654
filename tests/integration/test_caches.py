"""The hot-path caches: a verified token is not verified again; sessions, users
and clients are read at most once a second; revocation stays visible (at once
for this process, within a second for others)."""

from __future__ import annotations

import hashlib
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
from adapters.io_guard import WouldBlock, memory_only
from application.ports import AccessClaims
from domain.errors import InvalidToken
from tests.fakes import T0, FakeSigner

LEEWAY = timedelta(seconds=10)


class CountingSigner(FakeSigner):
    """Every token is signed by key "k1" until `dropped` says otherwise."""

    def __init__(self) -> None:
        super().__init__()
        self.verifications = 0
        self.dropped: set[str] = set()

    def verify(self, token: str, now: datetime) -> AccessClaims:
        self.verifications += 1
        return super().verify(token, now)

    def signed_by(self, token: str) -> str:
        return "k1"

    def still_trusts(self, kid: str) -> bool:
        return kid not in self.dropped


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


class OneAtATime:
    """A store without `get_many` (service clients): read one key at a time."""

    def __init__(self, store: StoreStub) -> None:
        self.get = store.get


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


def test_a_cached_token_is_refused_once_its_key_is_dropped() -> None:
    # A key that leaked: tokens forged with it and verified before must not
    # live on in the cache until their (forged) expiry.
    inner = CountingSigner()
    cache = CachedTokenVerifier(inner, LEEWAY)
    token = _token(inner)
    cache.verify(token, T0)

    inner.dropped.add("k1")

    with pytest.raises(InvalidToken, match="unknown key"):
        cache.verify(token, T0 + timedelta(seconds=1))
    assert token_hash(token) not in cache._entries


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


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
            inner, epoch, monotonic=ticker, max_entries=max_entries
        )
        return lambda n: users.get(keys[n][0])
    clients: CachedDirectory[object, object] = CachedDirectory(
        OneAtATime(store), epoch, monotonic=ticker, max_entries=max_entries
    )
    return lambda n: clients.get(f"client-{n}")


KINDS = ["sessions", "users", "clients"]
# The caches whose store reads many keys at once (the hot path of /v1/users/me).
# The service clients' store has no get_many: its cache reads one key per miss.
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


def fixed(answer: str) -> Callable[[list[int]], dict[int, str]]:
    return lambda keys: dict.fromkeys(keys, answer)


def test_expired_answers_are_swept_away_rather_than_kept_until_the_cache_fills() -> None:
    ticker = Ticker()
    answers: RecentAnswers[int, str] = RecentAnswers(
        RevocationEpoch(), 1.0, 100, ticker, fixed("answer")
    )
    for key in range(10):
        answers.get(key)
    assert len(answers) == 10
    ticker.now += 30
    answers.get(99)
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


def test_a_store_without_get_many_is_read_one_key_per_miss() -> None:
    store, ticker = StoreStub(), Ticker()
    ask = _cache("clients", store, RevocationEpoch(), ticker)
    ask(0), ask(1)
    ticker.now += 0.6  # past half their age: a batched cache would mark them due
    ask(0), ask(1)
    ticker.now += 0.5
    ask(0), ask(1)
    assert store.reads == 4  # renewed together, it would be 3
    assert store.batches == []


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


def _two_due_keys(read_many: Callable[[list[int]], dict[int, str]]) -> RecentAnswers[int, str]:
    ticker = Ticker()
    answers: RecentAnswers[int, str] = RecentAnswers(RevocationEpoch(), 1.0, 100, ticker, read_many)
    answers.get(1), answers.get(2)
    ticker.now += 0.7
    answers.get(1), answers.get(2)  # both due now
    return answers


def test_a_failed_read_fails_only_its_own_request_not_the_keys_it_renewed() -> None:
    calls: list[list[int]] = []

    def read_many(keys: list[int]) -> dict[int, str]:
        calls.append(keys)
        if 3 in keys:
            raise ConnectionError("a row this store cannot read")
        return dict.fromkeys(keys, "answer")

    answers = _two_due_keys(read_many)
    with pytest.raises(ConnectionError):
        answers.get(3)
    assert calls[-1] == [3, 1, 2]
    assert answers.get(4) == "answer"
    assert calls[-1] == [4]  # 1 and 2 are no longer due: each waits for its own miss


def test_a_miss_while_a_renewal_is_in_flight_does_not_read_the_same_keys_again() -> None:
    calls: list[list[int]] = []

    def read_many(keys: list[int]) -> dict[int, str]:
        calls.append(keys)
        if len(calls) == 3:
            answers.get(4)  # another request's miss, while this read is running
        return dict.fromkeys(keys, "answer")

    answers = _two_due_keys(read_many)
    answers.get(3)
    assert calls[2:] == [[3, 1, 2], [4]]


def test_on_the_event_loop_a_miss_asks_for_a_thread_before_taking_any_due_key() -> None:
    calls: list[list[int]] = []

    def read_many(keys: list[int]) -> dict[int, str]:
        calls.append(keys)
        return dict.fromkeys(keys, "answer")

    answers = _two_due_keys(read_many)
    with memory_only(), pytest.raises(WouldBlock):
        answers.get(3)
    answers.get(3)  # the same call, re-run in a thread
    assert calls[-1] == [3, 1, 2]


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
    ask(20)  # not among the due keys: 1 + 4 read
    assert store.batches[-1] == 5


class ChangingStore:
    """A store whose answers change over time, remembering every value each key
    had. A read takes time and answers with the values from when it started;
    while it runs, another process may change the first key it reads (`change`)
    or this process may revoke it (`revoke`: changed, and the epoch moves)."""

    def __init__(
        self, ticker: Ticker, epoch: RevocationEpoch, reads: list[tuple[float, str]]
    ) -> None:
        self._ticker = ticker
        self._epoch = epoch
        self._reads = iter(reads)
        self.history: dict[int, list[tuple[float, int]]] = {}
        # Per key, the value its latest revocation by this process left: values
        # only grow, so an answer below it has not seen that revocation.
        self.floor: dict[int, int] = {}

    def change(self, key: int) -> None:
        value = self.value(key) + 1
        self.history.setdefault(key, [(0.0, 0)]).append((self._ticker.now, value))

    def revoke(self, key: int) -> None:
        self.change(key)
        self.floor[key] = self.value(key)
        self._epoch.bump()

    def value(self, key: int) -> int:
        return self.history.get(key, [(0.0, 0)])[-1][1]

    def read_many(self, keys: list[int]) -> dict[int, int]:
        answers = {key: self.value(key) for key in keys}
        seconds, meanwhile = next(self._reads, (0.0, "nothing"))
        self._ticker.now += seconds / 2
        if meanwhile == "change":
            self.change(keys[0])
        elif meanwhile == "revoke":
            self.revoke(keys[0])
        self._ticker.now += seconds / 2
        return answers

    def held_within(self, key: int, since: float, until: float) -> set[int]:
        """The values `key` had at some moment of (since, until]."""
        changes = self.history.get(key, [(0.0, 0)])
        held = {value for at, value in changes if since < at <= until}
        before = [value for at, value in changes if at <= since]
        return held | set(before[-1:])


EVENTS = st.sampled_from(["nothing", "change", "revoke"])
STEPS = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=0.7),  # time passing
        st.integers(min_value=0, max_value=5),  # the key asked for
        EVENTS,  # what happens to it first
    ),
    max_size=60,
)
READS = st.lists(st.tuples(st.floats(min_value=0.0, max_value=0.6), EVENTS), max_size=60)


@settings(max_examples=500, deadline=None)
@given(steps=STEPS, reads=READS, max_entries=st.integers(min_value=1, max_value=8))
def test_no_answer_is_older_than_the_ttl_and_a_revocation_is_seen_at_once(
    steps: list[tuple[float, int, str]], reads: list[tuple[float, str]], max_entries: int
) -> None:
    ticker, epoch = Ticker(), RevocationEpoch()
    store = ChangingStore(ticker, epoch, reads)
    answers: RecentAnswers[int, int] = RecentAnswers(
        epoch, 1.0, max_entries, ticker, store.read_many
    )
    for elapsed, key, event in steps:
        ticker.now += elapsed
        if event == "change":
            store.change(key)
        elif event == "revoke":
            store.revoke(key)
        revoked_before, asked_at = store.floor.get(key, 0), ticker.now
        answer = answers.get(key)
        assert answer >= revoked_before
        assert answer in store.held_within(key, asked_at - 1.0, asked_at)
