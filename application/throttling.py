"""Request budgets per client IP for operations that anyone may call without an
account (sign-up, refresh): scripted account creation and token churn hit a
429 long before they cost real work."""

from __future__ import annotations

from application.ports import AuditLog, RequestThrottle
from domain.errors import TooManyRequests


class LimitRequests:
    def __init__(self, throttle: RequestThrottle, audit: AuditLog, action: str) -> None:
        self._throttle = throttle
        self._audit = audit
        self._action = action

    def __call__(self, client_ip: str | None) -> None:
        # No address (a Unix socket without a proxy header): one shared key
        # would throttle every client at once, so there is nothing to count.
        if not client_ip:
            return
        try:
            self._throttle.hit(f"{self._action}:ip:{client_ip}")
        except TooManyRequests as refused:
            self._audit.event("throttled", action=self._action, reason=refused.reason)
            raise
