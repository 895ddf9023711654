"""Where blocking work runs: the event loop when memory suffices, else a thread.

Two pools of threads per worker: the default one (sync routes, database
work) and one for work that waits for a password hash. A login holds its
thread for the tens of milliseconds of its hash; in the default pool a burst
of logins would take every thread, and refreshes, logouts and cache misses
would queue behind them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import ParamSpec, TypeVar

from anyio import CapacityLimiter, to_thread
from anyio.lowlevel import RunVar
from fastapi import Request
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


# One per event loop, like anyio's default limiter: a limiter belongs to the
# loop it was created in (a test client may run the app in several loops).
_HASHING_LIMITER: RunVar[CapacityLimiter] = RunVar("latchkey_hashing_limiter")


async def with_hashing(
    request: Request, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs
) -> T:
    """`function(*args, **kwargs)` on the threads kept for work that hashes a password."""
    try:
        limiter = _HASHING_LIMITER.get()
    except LookupError:
        limiter = CapacityLimiter(request.app.state.hashing_tokens)
        _HASHING_LIMITER.set(limiter)
    return await to_thread.run_sync(partial(function, *args, **kwargs), limiter=limiter)
