"""Prometheus metrics: a counter per security event and request latency per route.

The registry is per container, so that tests can build many apps side by
side. Under `latchkey serve` with several workers, prometheus_client's
multiprocess mode is on (entrypoints/serving.py): every worker's counts go to
files in one directory, and `render()`, whichever worker answers, sums them.
There, two `Metrics` in one process would write the same files, and only
counters and histograms are summed: a worker has one container, and these two.
"""

from __future__ import annotations

import os
from uuid import UUID

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from application.ports import AuditLog

# prometheus_client's variable for its multiprocess mode. It reads it once, at
# import, to choose where values live: so does this module.
MULTIPROCESS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"
_SHARED_DIRECTORY = os.environ.get(MULTIPROCESS_DIRECTORY)

# Listed up front so that a dashboard sees each at 0 before its first occurrence.
SECURITY_EVENTS = (
    "signup",
    "login",
    "login_failed",
    "refresh",
    "refresh_retried",
    "refresh_reuse_detected",
    "refresh_spent_concurrently",
    "logout",
    "password_changed",
    "password_change_failed",
    "session_revoked",
    "account_deleted",
    "account_delete_failed",
    "throttled",
)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.security_events = Counter(
            "latchkey_security_events",
            "Security events, as written to the audit log",
            ["event"],
            registry=self.registry,
        )
        self.request_duration = Histogram(
            "latchkey_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template",
            ["method", "route"],
            registry=self.registry,
        )
        for name in SECURITY_EVENTS:
            self.security_events.labels(event=name)
        # The labelled child of each (method, route): `labels()` takes a lock and
        # builds a tuple on every call. Bounded like the time series themselves.
        self._request_children: dict[tuple[str, str], Histogram] = {}

    def observe_request(self, method: str, route: str, seconds: float) -> None:
        """One request's duration; `method` and `route` must come from bounded sets."""
        child = self._request_children.get((method, route))
        if child is None:
            child = self.request_duration.labels(method=method, route=route)
            self._request_children[(method, route)] = child
        child.observe(seconds)

    def render(self) -> bytes:
        if not _SHARED_DIRECTORY:
            return generate_latest(self.registry)
        every_worker = CollectorRegistry()
        MultiProcessCollector(every_worker, path=_SHARED_DIRECTORY)  # type: ignore[no-untyped-call]
        return generate_latest(every_worker)


class CountingAuditLog:
    """Counts each security event, then writes it to the audit log it wraps."""

    def __init__(self, audit: AuditLog, metrics: Metrics) -> None:
        self._audit = audit
        self._counter = metrics.security_events

    def event(
        self,
        name: str,
        *,
        user_id: UUID | None = None,
        session_id: UUID | None = None,
        **fields: object,
    ) -> None:
        self._counter.labels(event=name).inc()
        self._audit.event(name, user_id=user_id, session_id=session_id, **fields)
