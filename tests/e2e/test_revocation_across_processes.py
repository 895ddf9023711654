"""Two web apps on one PostgreSQL database, as two workers or two instances are:
a revocation committed through one is refused by the other without waiting out
its cache of live sessions (SECURITY.md 5: "this service refuses their access
tokens at once"). The second app's cache would remember for an hour here, so
only the revocation notice it hears can make it forget."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from dependency_injector import providers
from fastapi import FastAPI

from adapters.caches import CachedLiveSessions
from application.authenticate import SessionsInStore
from application.logout import LogoutScope
from tests.e2e.conftest import Api, build_api, make_settings
from tests.pg import create_database_or_skip, drop_database
from tests.waiting import PATIENCE_SECONDS, wait_for

AN_HOUR = 3600.0


@pytest.fixture
def two_apps(tmp_path: Path) -> Iterator[tuple[Api, Api]]:
    url = create_database_or_skip()
    try:
        # The same settings and data directory: one service, two processes.
        settings = make_settings(tmp_path, url)
        with ExitStack() as stack:
            first = stack.enter_context(contextmanager(build_api)(settings))
            second = stack.enter_context(contextmanager(build_api)(settings))
            container = second.container
            container.live_sessions.override(
                providers.ThreadSafeSingleton(
                    CachedLiveSessions,
                    providers.ThreadSafeSingleton(SessionsInStore, container.uow.provider),
                    container.revocations,
                    ttl_seconds=AN_HOUR,
                )
            )
            # Listening before anything is cached: a listener that connects
            # later empties the cache on connecting, and would hide a notice
            # that never came.
            app = second.client.app
            assert isinstance(app, FastAPI)
            assert app.state.revocation_listener.wait_until_listening(PATIENCE_SECONDS)
            yield first, second
    finally:
        drop_database(url)


def refused_soon(api: Api, access_token: str) -> bool:
    return wait_for(lambda: api.me(access_token).status_code == 401)


# The revoking side calls its container's use cases, as `latchkey users disable`
# does, not its HTTP routes: dependency-injector wires `@inject` routes to one
# container per process (the last one made), so both apps' logout routes would
# run in the second app's container.


def test_a_logout_in_one_process_is_refused_by_the_other(two_apps: tuple[Api, Api]) -> None:
    one, other = two_apps
    one.signup()
    pair = one.login()
    assert other.me(pair["access_token"]).status_code == 200  # cached there as live

    principal = one.container.authenticate()(pair["access_token"])
    one.container.log_out()(principal, LogoutScope.LOCAL)

    assert refused_soon(other, pair["access_token"])


def test_an_operator_disabling_the_user_is_seen_by_a_serving_process(
    two_apps: tuple[Api, Api],
) -> None:
    one, other = two_apps
    one.signup("grace@example.com")
    pair = one.login("grace@example.com")
    assert other.me(pair["access_token"]).status_code == 200

    one.container.manage_users().disable("grace@example.com")

    assert refused_soon(other, pair["access_token"])
