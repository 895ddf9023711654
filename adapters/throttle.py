"""Failed-login throttling on the `limits` library: in the process or shared through Redis."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from limits import RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from domain.errors import TooManyRequests


class LimitsLoginThrottle:
    """At most `max_failures` failures per key in any `window_seconds` (a moving window).

    `storage_uri` is `memory://` for one process or `redis://host:port/db` to
    share the counts between instances. Redis errors (e.g. ConnectionError)
    propagate unchanged: the caller decides whether to fail closed or open.
    """

    def __init__(
        self,
        *,
        storage_uri: str,
        max_failures: int,
        window_seconds: int,
        namespace: str = "latchkey-login",
    ) -> None:
        if max_failures < 1 or window_seconds < 1:
            raise ValueError("max_failures and window_seconds must be at least 1")
        # A moving window, not a fixed one: a fixed window lets an attacker
        # spend 2 x max_failures around a window boundary.
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))
        self._limit = RateLimitItemPerSecond(max_failures, window_seconds, namespace=namespace)

    def check(self, keys: Sequence[str]) -> None:
        """Read-only: checking never counts as a failure."""
        blocked = False
        retry_after = 0.0
        for key in keys:
            stats = self._limiter.get_window_stats(self._limit, key)
            if stats.remaining <= 0:
                blocked = True
                retry_after = max(retry_after, stats.reset_time - time.time())
        if blocked:
            raise TooManyRequests(retry_after=max(1, math.ceil(retry_after)))

    def record_failure(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._limiter.hit(self._limit, key)

    def reset(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._limiter.clear(self._limit, key)
