"""The server's own error lines keep no traceback (it could quote SQL or values)."""

from __future__ import annotations

import logging
import sys

from entrypoints.logging import WithoutTraceback


def test_an_error_logged_with_its_exception_keeps_only_the_exception_name() -> None:
    try:
        raise ValueError("SELECT secret FROM users")
    except ValueError:
        record = logging.LogRecord(
            "uvicorn.error",
            logging.ERROR,
            __file__,
            1,
            "Exception in ASGI application",
            None,
            exc_info=sys.exc_info(),
        )
    assert WithoutTraceback().filter(record)
    line = logging.Formatter().format(record)
    assert "Exception in ASGI application (ValueError)" in line
    assert "SELECT" not in line
    assert "Traceback" not in line
