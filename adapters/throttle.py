"""Throttling on the `limits` library: in the process (memory://) or shared through Redis."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

# Imported whole, here, before any request: `limits` imports redis lazily when a
# storage is first made, and a second thread doing so meanwhile reads the
# half-imported module's version as 0.0.0 and fails (a 500 for concurrent first
# requests of a fresh worker).
import redis  # noqa: F401
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from domain.errors import ServiceUnavailable, TooManyRequests

# A throttle that hangs would hang every login: a Redis that does not answer
# within this is treated as down.
REDIS_TIMEOUT_SECONDS = 1.0


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
    except StorageError:
        raise ServiceUnavailable("the throttling store is unavailable") from None


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
    ) -> None:
        self._limit = _limit(max_failures, window_seconds, namespace)
        self._limiter = _limiter(storage_uri)

    def check(self, keys: Sequence[str]) -> None:
        """Read-only: checking never counts as a failure."""
        blocked_until = 0.0
        with _store_reachable():
            for key in keys:
                stats = self._limiter.get_window_stats(self._limit, key)
                if stats.remaining <= 0:
                    blocked_until = max(blocked_until, stats.reset_time)
        if blocked_until:
            raise TooManyRequests(retry_after=_retry_after(blocked_until))

    def reserve(self, keys: Sequence[str]) -> None:
        """One atomic hit per key (moving window: a refused hit counts nothing)."""
        blocked_until = 0.0
        with _store_reachable():
            for key in keys:
                if not self._limiter.hit(self._limit, key):
                    stats = self._limiter.get_window_stats(self._limit, key)
                    blocked_until = max(blocked_until, stats.reset_time)
        if blocked_until:
            raise TooManyRequests(retry_after=_retry_after(blocked_until))

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
