"""The composition root: every provider builds (a wrong argument list fails here,
not at a user's first request)."""

from __future__ import annotations

from pathlib import Path

import pytest
from dependency_injector import providers

from adapters.sql.revocation_notices import RevocationListener
from entrypoints.container import Container
from tests.e2e.conftest import make_settings

NAMES = sorted(Container.providers)


@pytest.mark.parametrize("name", NAMES)
def test_every_provider_of_the_container_builds(tmp_path: Path, name: str) -> None:
    container = Container()
    container.settings.override(
        providers.Object(make_settings(tmp_path, f"sqlite:///{tmp_path / 'db'}"))
    )
    try:
        if name == "revocation_listener":  # none on SQLite: one process per file
            assert container.providers[name]() is None
        else:
            assert container.providers[name]() is not None
    finally:
        container.engine().dispose()


def test_on_postgresql_the_container_builds_a_revocation_listener(tmp_path: Path) -> None:
    container = Container()
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/latchkey_not_connected_to"
    container.settings.override(providers.Object(make_settings(tmp_path, url)))
    listener = container.revocation_listener()
    assert isinstance(listener, RevocationListener)
    listener.stop()  # never started: only its sockets to close
