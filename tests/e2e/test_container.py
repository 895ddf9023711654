"""The composition root: every provider builds (a wrong argument list fails here,
not at a user's first request)."""

from __future__ import annotations

from pathlib import Path

import pytest
from dependency_injector import providers

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
        assert container.providers[name]() is not None
    finally:
        container.engine().dispose()
