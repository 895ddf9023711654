"""Security events as one JSON line each, on the logger named "latchkey.audit"."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from uuid import UUID

import structlog
from structlog.typing import EventDict, WrappedLogger

AUDIT_LOGGER = "latchkey.audit"
_RESERVED = frozenset({"event", "user_id", "session_id", "level", "timestamp", "logger"})
_SECRET_MARKERS = ("password", "token")


def drop_secret_fields(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Remove any field named like a password or token, nested ones included.

    Callers never pass secrets, but one careless `**request_body` would put
    credentials into long-lived logs; the name is the one check that needs no
    knowledge of the caller (defence in depth, API.md: no log line contains one).
    """
    return _scrub(event_dict)


def _scrub(values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: _scrub(value) if isinstance(value, Mapping) else value
        for key, value in values.items()
        if not any(marker in str(key).lower() for marker in _SECRET_MARKERS)
    }


class StructlogAuditLog:
    """Adds whatever the request bound with `structlog.contextvars` (request_id, client_ip).

    The processors are fixed here, not taken from the global structlog
    configuration, so the audit format stays JSON whatever the app log looks
    like. The sink is the configured logger factory's logger named
    "latchkey.audit" (stdout by default), or `logger` when given.
    """

    def __init__(self, logger: WrappedLogger | None = None) -> None:
        self._log: Any = structlog.wrap_logger(
            logger,
            processors=[
                structlog.contextvars.merge_contextvars,
                drop_secret_fields,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.JSONRenderer(default=str),
            ],
            wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
            logger_factory_args=(AUDIT_LOGGER,),
        ).bind(logger=AUDIT_LOGGER)

    def event(
        self,
        name: str,
        *,
        user_id: UUID | None = None,
        session_id: UUID | None = None,
        **fields: object,
    ) -> None:
        extra = {key: value for key, value in fields.items() if key not in _RESERVED}
        self._log.info(
            name,
            user_id=None if user_id is None else str(user_id),
            session_id=None if session_id is None else str(session_id),
            **extra,
        )
