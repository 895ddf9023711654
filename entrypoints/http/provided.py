"""How routes get their use cases from the container.

`Provided[...]`: dependency-injector's `Provide` marker, awaited instead of threaded.

FastAPI calls every `Depends(...)` callable, and runs a sync one in its thread
pool. `Provide`'s `__call__` is sync and only returns the marker (the
`@inject` wrapper then swaps in the real object), so each injected parameter
cost a thread hand-off per request for nothing. This marker's `__call__` is a
coroutine: FastAPI awaits it on the event loop, and `@inject` treats it as a
`Provide` (it is one).
"""

# No `from __future__ import annotations`: the marker class is inspected at runtime.
from typing import Any

from dependency_injector.wiring import Provide
from fastapi import Request

from entrypoints.container import Container


class Provided(Provide):  # type: ignore[misc,valid-type]
    async def __call__(self) -> Any:
        return self


def container_of(request: Request) -> Container:
    """The app's container, for the few hot routes that call providers themselves.

    A `Depends(Provided[...])` parameter is one more dependency for FastAPI to
    resolve and a pass through `@inject`'s wrapper: about 25 µs a request, which
    is most of what a cached `/v1/users/me` costs. Calling the provider here
    still honours overrides (tests) and scopes (singletons stay singletons).
    """
    container: Container = request.app.state.container
    return container
