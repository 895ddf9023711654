"""The HTTP API through the ASGI app, wired by the real container over a real
database, with only the clock replaced so that tests can move time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers
from fastapi.testclient import TestClient

from adapters.sql.migrate import upgrade
from entrypoints.container import Container
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from tests.fakes import FakeClock
from tests.leaks import watch
from tests.pg import create_database_or_skip, drop_database

PASSWORD = "correct horse battery staple 42"
OTHER_PASSWORD = "a different passphrase entirely 7"


@dataclass
class Api:
    client: TestClient
    clock: FakeClock
    container: Container

    def signup(self, email: str = "ada@example.com", password: str = PASSWORD) -> Any:
        response = self.client.post("/v1/auth/signup", json={"email": email, "password": password})
        assert response.status_code == 201, response.text
        return response.json()

    def login(
        self, email: str = "ada@example.com", password: str = PASSWORD, **extra: Any
    ) -> dict[str, Any]:
        response = self.client.post(
            "/v1/auth/login", json={"email": email, "password": password, **extra}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def refresh(self, refresh_token: str) -> Any:
        return self.client.post("/v1/auth/refresh", json={"refresh_token": refresh_token})

    def get(self, path: str, access_token: str) -> Any:
        return self.client.get(path, headers={"Authorization": f"Bearer {access_token}"})

    def me(self, access_token: str) -> Any:
        return self.get("/v1/users/me", access_token)

    def logout(self, access_token: str, scope: str | None = None) -> Any:
        body = {"scope": scope} if scope else None
        return self.client.post(
            "/v1/auth/logout", json=body, headers={"Authorization": f"Bearer {access_token}"}
        )


def make_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "data_dir": tmp_path / "var",
        "database_url": database_url,
        "access_token_ttl": 900,
        "refresh_token_ttl": 3600,
        "session_max_age": 86400,
        "refresh_reuse_grace": 10,
        "clock_leeway": 10,
        "login_max_failures": 100,
        **overrides,
    }
    return Settings(_env_file=None, **values)


def build_api(settings: Settings) -> Iterator[Api]:
    upgrade(settings.effective_database_url)
    container = Container()
    container.settings.override(providers.Object(settings))
    clock = FakeClock()
    container.clock.override(providers.Object(clock))
    with TestClient(create_app(container), raise_server_exceptions=False) as client:
        watch(client)
        yield Api(client=client, clock=clock, container=container)
    container.engine().dispose()
    container.unwire()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change settings of the `api` fixture."""
    return {}


@pytest.fixture
def api(tmp_path: Path, settings_overrides: dict[str, Any]) -> Iterator[Api]:
    url = f"sqlite:///{tmp_path / 'e2e.db'}"
    yield from build_api(make_settings(tmp_path, url, **settings_overrides))


@pytest.fixture
def pg_api(tmp_path: Path, settings_overrides: dict[str, Any]) -> Iterator[Api]:
    url = create_database_or_skip()
    try:
        yield from build_api(make_settings(tmp_path, url, **settings_overrides))
    finally:
        drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_api(request: pytest.FixtureRequest) -> Api:
    """The same test on the embedded default and on PostgreSQL."""
    api: Api = request.getfixturevalue("api" if request.param == "sqlite" else "pg_api")
    return api
