"""Throttling on the `limits` library: in the process (memory://) or shared through Redis."""

from __future__ import annotations

import logging
import math
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol

# Imported whole, here, before any request: `limits` imports redis lazily when a
# storage is first made, and a second thread doing so meanwhile reads the
# half-imported module's version as 0.0.0 and fails (a 500 for concurrent first
# requests of a fresh worker).
import redis
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from domain.errors import ServiceUnavailable, TooManyRequests

# A throttle that hangs would hang every login: a Redis that does not answer
# within this is treated as down.
REDIS_TIMEOUT_SECONDS = 1.0
# A place among an IP's attempts in flight that its process never gave back
# (it died mid-login, or Redis's reply was lost) lapses after this long; a live
# attempt ends long before (a login holds it for a few hashes at most).
IN_FLIGHT_SECONDS = 60

log = logging.getLogger(__name__)


def _limiter(storage_uri: str) -> MovingWindowRateLimiter:
    # A moving window, not a fixed one: a fixed window lets an attacker spend
    # twice the budget around a window boundary.
    options: dict[str, float] = {}
    if not storage_uri.startswith("memory://"):
        options = {
            "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
            "socket_timeout": REDIS_TIMEOUT_SECONDS,
        }
    storage = storage_from_string(storage_uri, wrap_exceptions=True, **options)
    return MovingWindowRateLimiter(storage)


@contextmanager
def _store_reachable() -> Iterator[None]:
    """An unreachable store fails closed with 503: without its counts, throttling
    would silently stop, which is exactly what a brute-force attacker wants."""
    try:
        yield
    except (StorageError, redis.RedisError):
        raise ServiceUnavailable("the throttling store is unavailable") from None


class _InFlight(Protocol):
    """Attempts in flight per key. In Redis each is held under its own id, so
    that entering or leaving twice (a retried call, a leave after a lost reply)
    is harmless; in one process nothing is retried or lost, and a count does."""

    def enter(self, key: str, attempt: str) -> int:
        """Hold a place for `attempt`; the places held, this one included."""

    def leave(self, key: str, attempt: str) -> None: ...


class _InFlightInProcess:
    """A count per key: in one process every attempt's `finally` gives its place
    back, and no answer can be lost on the way."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def enter(self, key: str, attempt: str) -> int:
        with self._lock:
            self._counts[key] += 1
            return self._counts[key]

    def leave(self, key: str, attempt: str) -> None:
        with self._lock:
            self._counts[key] -= 1
            if self._counts[key] <= 0:
                del self._counts[key]


# One sorted set per key, an attempt's id scored by when its place lapses: a
# place that its process never gave back (it died, or Redis's reply to it was
# lost) lapses on its own, whatever other attempts come meanwhile. Scored by
# Redis's clock, which every instance shares: an instance whose own clock runs
# fast would otherwise lapse the others' places early.
_ENTER = b"""
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return redis.call('ZCARD', KEYS[1])
"""
_LEAVE = b"return redis.call('ZREM', KEYS[1], ARGV[1])"


class _InFlightInRedis:
    def __init__(self, storage: RedisStorage, namespace: str, lapse_seconds: int) -> None:
        connection = storage.get_connection()
        self._enter = connection.register_script(_ENTER)
        self._leave = connection.register_script(_LEAVE)
        self._prefix = storage.prefixed_key(f"{namespace}/in-flight/")
        self._lapse_seconds = lapse_seconds

    def enter(self, key: str, attempt: str) -> int:
        lapse, expiry_ms = self._lapse_seconds, self._lapse_seconds * 1000
        return int(self._enter([self._prefix + key], [lapse, attempt, expiry_ms]))

    def leave(self, key: str, attempt: str) -> None:
        self._leave([self._prefix + key], [attempt])


def _in_flight(storage: Storage, namespace: str, lapse_seconds: int) -> _InFlight:
    if isinstance(storage, RedisStorage):  # also Sentinel and Cluster
        return _InFlightInRedis(storage, namespace, lapse_seconds)
    if isinstance(storage, MemoryStorage):
        return _InFlightInProcess()
    raise ValueError(f"login throttling needs memory:// or Redis, not {type(storage).__name__}")


def _retry_after(reset_time: float) -> int:
    return max(1, math.ceil(reset_time - time.time()))


def _limit(count: int, window_seconds: int, namespace: str) -> RateLimitItem:
    if count < 1 or window_seconds < 1:
        raise ValueError("the limit and window_seconds must be at least 1")
    return RateLimitItemPerSecond(count, window_seconds, namespace=namespace)


class LimitsLoginThrottle:
    """At most `max_failures` failures per key in any `window_seconds`.

    `storage_uri` is `memory://` for one process or `redis://host:port/db` to
    share the counts between instances.
    """

    def __init__(
        self,
        *,
        storage_uri: str,
        max_failures: int,
        window_seconds: int,
        namespace: str = "latchkey-login",
        in_flight_seconds: int = IN_FLIGHT_SECONDS,
    ) -> None:
        self._limit = _limit(max_failures, window_seconds, namespace)
        self._limiter = _limiter(storage_uri)
        self._in_flight = _in_flight(self._limiter.storage, namespace, in_flight_seconds)

    @contextmanager
    def attempt(self, keys: Sequence[str]) -> Iterator[None]:
        attempt = secrets.token_hex(16)
        entered: list[str] = []
        waits: list[tuple[int, str] | None] = []
        try:
            with _store_reachable():
                for key in keys:
                    # Listed before entering: a place may be held even when
                    # the answer is lost, and leaving an unheld one is harmless.
                    entered.append(key)
                    # Entered before the failures are read: an attempt that ends
                    # meanwhile counted its failure before leaving, so it is seen
                    # in one count or the other.
                    in_flight = self._in_flight.enter(key, attempt)
                    waits.append(self._wait(key, in_flight))
            blocked = [wait for wait in waits if wait is not None]
            if blocked:
                seconds, reason = max(blocked)
                raise TooManyRequests(retry_after=seconds, reason=reason)
            yield
        finally:
            for key in entered:
                self._leave(key, attempt)

    def _wait(self, key: str, in_flight: int) -> tuple[int, str] | None:
        """Seconds until `key` may try again, and why; None when its failures in
        the window and `in_flight` attempts (this one included) fit the limit."""
        stats = self._limiter.get_window_stats(self._limit, key)
        failures = self._limit.amount - stats.remaining
        if failures + in_flight <= self._limit.amount:
            return None
        if failures >= self._limit.amount:
            return _retry_after(stats.reset_time), "failures"
        return 1, "in_flight"  # only attempts in flight fill it: they end within moments

    def _leave(self, key: str, attempt: str) -> None:
        try:
            self._in_flight.leave(key, attempt)
        except redis.RedisError:
            # The attempt's outcome stands; the place it held lapses by itself.
            log.warning("could not release a login attempt in flight", exc_info=True)

    def reserve(self, keys: Sequence[str]) -> None:
        """One atomic hit per key (moving window: a refused hit counts nothing)."""
        blocked_until = 0.0
        with _store_reachable():
            for key in keys:
                if not self._limiter.hit(self._limit, key):
                    stats = self._limiter.get_window_stats(self._limit, key)
                    blocked_until = max(blocked_until, stats.reset_time)
        if blocked_until:
            raise TooManyRequests(retry_after=_retry_after(blocked_until), reason="failures")

    def record_failure(self, keys: Sequence[str]) -> None:
        with _store_reachable():
            for key in keys:
                self._limiter.hit(self._limit, key)

    def reset(self, keys: Sequence[str]) -> None:
        with _store_reachable():
            for key in keys:
                self._limiter.clear(self._limit, key)


class LimitsRequestThrottle:
    """At most `max_requests` requests per key in any `window_seconds`."""

    def __init__(
        self, *, storage_uri: str, max_requests: int, window_seconds: int, namespace: str
    ) -> None:
        self._limit = _limit(max_requests, window_seconds, namespace)
        self._limiter = _limiter(storage_uri)

    def hit(self, key: str) -> None:
        with _store_reachable():
            # A refused request is not counted, so waiting out Retry-After works.
            if self._limiter.hit(self._limit, key):
                return
            stats = self._limiter.get_window_stats(self._limit, key)
        raise TooManyRequests(retry_after=_retry_after(stats.reset_time))
