"""Databases for the integration tests: a fresh SQLite file, a fresh PostgreSQL
database, and a unit-of-work factory over each (plus the in-memory fake, so one
contract suite holds every implementation to the same behaviour)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from adapters.sql.engine import make_engine
from adapters.sql.migrate import upgrade
from adapters.sql.unit_of_work import SqlUnitOfWork
from application.ports import UnitOfWork, UnitOfWorkFactory
from tests.pg import create_database_or_skip, drop_database

SQL_BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    # A missing parent directory on purpose: make_engine must create it.
    return f"sqlite:///{tmp_path / 'var' / 'latchkey.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    url = create_database_or_skip()
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture(params=SQL_BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str:
    """An empty database, once per SQL backend."""
    return _empty_database(request, request.param)


@pytest.fixture(params=SQL_BACKENDS)
def sql_uow_factory(request: pytest.FixtureRequest) -> UnitOfWorkFactory:
    """SqlUnitOfWork over a freshly migrated database, once per SQL backend."""
    return _sql_factory(request, request.param)


@pytest.fixture(params=[*SQL_BACKENDS, "memory"])
def uow_factory(request: pytest.FixtureRequest) -> UnitOfWorkFactory:
    """Every implementation of the unit of work, each over an empty store."""
    if request.param == "memory":
        return _fake_factory()
    return _sql_factory(request, request.param)


def _empty_database(request: pytest.FixtureRequest, backend: str) -> str:
    fixture = "sqlite_url" if backend == "sqlite" else "postgres_url"
    return cast(str, request.getfixturevalue(fixture))


def _sql_factory(request: pytest.FixtureRequest, backend: str) -> UnitOfWorkFactory:
    url = _empty_database(request, backend)
    upgrade(url)
    engine = make_engine(url)
    # Runs before the database fixture's teardown, which was set up first.
    request.addfinalizer(engine.dispose)

    def make(*, autocommit: bool = False) -> UnitOfWork:
        return SqlUnitOfWork(engine, autocommit=autocommit)

    return make


def _fake_factory() -> UnitOfWorkFactory:
    # Imported lazily: the fakes are written alongside and may not exist yet.
    try:
        fakes = importlib.import_module("tests.fakes")
    except ModuleNotFoundError as error:
        if error.name != "tests.fakes":
            raise
        pytest.skip("tests/fakes.py (FakeUnitOfWorkFactory) does not exist yet")
    return cast(UnitOfWorkFactory, fakes.FakeUnitOfWorkFactory())
