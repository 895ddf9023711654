"""Answering from memory on the event loop, and knowing when that is not possible.

The hot read paths (a bearer token on a protected route, a profile, an
introspection) usually need nothing but the in-process caches. They are first
tried on the event loop inside `memory_only()`; any adapter that is about to
do blocking I/O (open a unit of work, reload the signing keys) calls
`allow_io()` first, which raises WouldBlock there. The caller then runs the
whole call again in a worker thread, where I/O is allowed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_memory_only: ContextVar[bool] = ContextVar("latchkey_memory_only", default=False)


class WouldBlock(BaseException):
    """Raised where blocking I/O would start while only memory may be used.

    A BaseException so that no `except Exception` on the way (a parser that
    turns any failure into a 401) can swallow it.
    """


@contextmanager
def memory_only() -> Iterator[None]:
    token = _memory_only.set(True)
    try:
        yield
    finally:
        _memory_only.reset(token)


def allow_io() -> None:
    """Call before blocking I/O; raises WouldBlock inside `memory_only()`."""
    if _memory_only.get():
        raise WouldBlock
