"""SqlUnitOfWork's failure mapping and the engine's per-backend settings."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import psycopg
import pytest
from sqlalchemy import Engine, make_url

from adapters.caches import RevocationEpoch
from adapters.sql.engine import make_engine
from adapters.sql.migrate import upgrade
from adapters.sql.unit_of_work import SqlUnitOfWork
from domain.errors import EmailTaken, ServiceUnavailable
from domain.user import Email, User
from tests.pg import ADMIN_URL

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)

UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/postgres"


def test_an_unreachable_postgresql_raises_service_unavailable_on_enter() -> None:
    engine = make_engine(UNREACHABLE)
    try:
        with pytest.raises(ServiceUnavailable) as caught, SqlUnitOfWork(engine):
            pass
    finally:
        engine.dispose()
    assert "SELECT" not in str(caught.value)
    assert caught.value.__suppress_context__


@pytest.fixture
def migrated_postgres_url(postgres_url: str) -> str:
    upgrade(postgres_url)
    return postgres_url


def test_a_connection_dropped_inside_the_block_raises_service_unavailable(
    migrated_postgres_url: str,
) -> None:
    engine = make_engine(migrated_postgres_url)

    def read_across_a_dropped_connection() -> None:
        with SqlUnitOfWork(engine) as uow:
            uow.users.get(uuid4())
            _terminate_backends(migrated_postgres_url)
            uow.users.get(uuid4())

    try:
        with pytest.raises(ServiceUnavailable):
            read_across_a_dropped_connection()
    finally:
        engine.dispose()


def test_a_lock_wait_past_the_statement_timeout_raises_service_unavailable(
    migrated_postgres_url: str,
) -> None:
    engine = make_engine(migrated_postgres_url)
    user = User(id=uuid4(), email=Email("ada@example.com"), password_hash="h", created_at=T0)
    try:
        with SqlUnitOfWork(engine) as uow:
            uow.users.add(user)
            uow.commit()
        with SqlUnitOfWork(engine) as holder:
            assert holder.users.update(user, was=user)  # holds the row lock until exit
            with pytest.raises(ServiceUnavailable), SqlUnitOfWork(engine) as waiter:
                waiter.users.update(user, was=user)
    finally:
        engine.dispose()


def test_an_exhausted_pool_raises_service_unavailable_after_the_pool_timeout(
    postgres_url: str,
) -> None:
    engine = make_engine(postgres_url, pool_size=1, max_overflow=0, pool_timeout=0.5)
    try:
        # The first connection is held, so the unit of work waits for a second.
        with engine.connect(), pytest.raises(ServiceUnavailable), SqlUnitOfWork(engine):
            pass
    finally:
        engine.dispose()


def test_a_server_that_never_answers_raises_service_unavailable_after_the_connect_timeout() -> None:
    # Accepts TCP connections (the kernel does) but never says a word: a hung host.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/x", connect_timeout=2)
        try:
            with pytest.raises(ServiceUnavailable), SqlUnitOfWork(engine):
                pass
        finally:
            engine.dispose()


def _terminate_backends(url: str, *, wait: bool = False) -> None:
    """End the database's backends, and with `wait` until they are gone (and so
    have closed their sockets), as after a server restart."""
    name = make_url(url).database
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        deadline = time.monotonic() + 10
        while wait and time.monotonic() < deadline:
            left = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)
            ).fetchone()
            if left is not None and left[0] == 0:
                return
            time.sleep(0.02)
        if wait:
            raise AssertionError("the backends did not end")


def test_a_sqlite_engine_creates_its_directory_and_enforces_foreign_keys_in_wal_mode(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'a' / 'b' / 'latchkey.db'}")
    try:
        with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA foreign_keys").scalar() == 1
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA busy_timeout").scalar() == 5000
        assert (tmp_path / "a" / "b" / "latchkey.db").exists()
    finally:
        engine.dispose()


@pytest.mark.parametrize("isolation", ["default", "AUTOCOMMIT"])
def test_a_postgresql_engine_reads_committed_with_a_statement_timeout(
    postgres_url: str, isolation: str
) -> None:
    # Whatever the database's own default: in autocommit (SqlUnitOfWork's
    # autocommit=True) no BEGIN is sent, which is where SQLAlchemy sets the level.
    dsn = make_url(postgres_url).set(drivername="postgresql")
    with psycopg.connect(dsn.render_as_string(hide_password=False), autocommit=True) as admin:
        admin.execute(
            f'ALTER DATABASE "{dsn.database}" SET default_transaction_isolation = '
            "'repeatable read'"
        )
    options = {} if isolation == "default" else {"isolation_level": isolation}
    with _engine(postgres_url) as engine, engine.connect() as connection:
        show = connection.execution_options(**options).exec_driver_sql
        assert show("SHOW transaction_isolation").scalar() == "read committed"
        assert show("SHOW statement_timeout").scalar() == "5s"


def _read_a_row(engine: Engine) -> None:
    with SqlUnitOfWork(engine) as uow:
        assert uow.users.get(uuid4()) is None


def test_a_pooled_connection_closed_on_the_client_side_is_replaced_at_checkout(
    migrated_postgres_url: str,
) -> None:
    engine = make_engine(migrated_postgres_url, pool_size=1, idle_ping_seconds=3600)
    try:
        _read_a_row(engine)
        with engine.connect() as connection:
            raw = connection.connection.dbapi_connection
        assert raw is not None
        raw.close()  # closed while it waits in the pool
        _read_a_row(engine)
    finally:
        engine.dispose()


def test_a_pooled_connection_that_died_while_idle_is_replaced_at_checkout(
    migrated_postgres_url: str,
) -> None:
    engine = make_engine(migrated_postgres_url, pool_size=1, idle_ping_seconds=0)
    try:
        _read_a_row(engine)
        _terminate_backends(migrated_postgres_url)  # a server restart, as far as the pool sees
        _read_a_row(engine)
    finally:
        engine.dispose()


def test_a_connection_in_steady_use_that_the_server_closed_is_replaced_at_checkout(
    migrated_postgres_url: str,
) -> None:
    # Not idle long enough to be pinged (a ping is a round trip per request),
    # but the server's goodbye is waiting on its socket: the next request
    # after a restart must not be a 503 (SECURITY.md 26).
    engine = make_engine(migrated_postgres_url, pool_size=1, idle_ping_seconds=3600)
    try:
        _read_a_row(engine)
        _terminate_backends(migrated_postgres_url, wait=True)
        _read_a_row(engine)
    finally:
        engine.dispose()


def _ada() -> User:
    return User(id=uuid4(), email=Email("ada@example.com"), password_hash="h", created_at=T0)


@contextmanager
def _engine(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def _stored(engine: Engine, user_id: UUID) -> User | None:
    with SqlUnitOfWork(engine) as uow:
        return uow.users.get(user_id)


def test_on_postgresql_an_autocommit_unit_commits_each_write_as_it_runs(
    migrated_postgres_url: str,
) -> None:
    user = _ada()
    with _engine(migrated_postgres_url) as engine:
        with SqlUnitOfWork(engine, autocommit=True) as uow:
            uow.users.add(user)
            seen_before_the_end = _stored(engine, user.id)
            # No savepoint is possible without a transaction, nor needed.
            with pytest.raises(EmailTaken):
                uow.users.add(replace(user, id=uuid4()))
        kept = _stored(engine, user.id)
    assert seen_before_the_end == user
    assert kept == user  # not rolled back, though commit() was never called


def test_on_postgresql_a_revocation_in_an_autocommit_unit_moves_the_epoch_without_commit(
    migrated_postgres_url: str,
) -> None:
    # The revocation is committed as it runs: a cache must forget at once even
    # if the use case fails before it calls commit().
    epoch = RevocationEpoch()
    with _engine(migrated_postgres_url) as engine, pytest.raises(RuntimeError):
        _revoke_all_then_fail(SqlUnitOfWork(engine, epoch, autocommit=True), _ada())
    assert epoch.value != 0


def _revoke_all_then_fail(unit: SqlUnitOfWork, user: User) -> None:
    with unit as uow:
        uow.sessions.revoke_all(user.id, T0)
        raise RuntimeError("the use case failed after its write")


def test_on_sqlite_an_autocommit_unit_is_still_one_transaction(sqlite_url: str) -> None:
    # SQLite's rotation is three statements that must commit together.
    upgrade(sqlite_url)
    user = _ada()
    with _engine(sqlite_url) as engine:
        with SqlUnitOfWork(engine, autocommit=True) as uow:
            uow.users.add(user)
        assert _stored(engine, user.id) is None
