"""Structured JSON logs on stderr, one line per event."""

from __future__ import annotations

import logging
import sys

import structlog


class WithoutTraceback(logging.Filter):
    """Keeps the server's error line but drops its traceback: a traceback may
    quote SQL or values, and no log line may carry either (API.md)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[0] is not None:
            record.msg = f"{record.msg} ({record.exc_info[0].__name__})"
        record.exc_info = None
        record.exc_text = None
        return True


def configure_logging(level: int = logging.INFO) -> None:
    for name in ("uvicorn.error", "uvicorn", "fastapi", "starlette"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, WithoutTraceback) for f in logger.filters):
            logger.addFilter(WithoutTraceback())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # One write per line: print() sends the text and its newline apart, and
        # the server's own log lines (stdout, often the same file or pipe) then
        # land between them, breaking the one-JSON-object-per-line format.
        logger_factory=structlog.WriteLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
