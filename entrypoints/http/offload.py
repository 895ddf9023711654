"""Run a read-only use case on the event loop when memory suffices, else in a thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool

from adapters.io_guard import WouldBlock, memory_only

P = ParamSpec("P")
T = TypeVar("T")


async def answer(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`function(*args, **kwargs)`, without a thread hand-off when it needs no I/O.

    Only for calls with no side effect before their first I/O: when that I/O
    is reached the call is abandoned and run again from the start in the
    thread pool.
    """
    try:
        with memory_only():
            return function(*args, **kwargs)
    except WouldBlock:
        return await run_in_threadpool(function, *args, **kwargs)
