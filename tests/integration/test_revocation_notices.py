"""A revocation committed by one process reaches the caches of the others through
PostgreSQL's LISTEN/NOTIFY (adapters/sql/revocation_notices.py), not only when
their one-second cache runs out: each test gives the listening side a cache that
would otherwise remember for an hour."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from uuid import uuid4

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc

from adapters.caches import CachedLiveSessions, RevocationEpoch
from adapters.sql.engine import make_engine
from adapters.sql.migrate import upgrade
from adapters.sql.revocation_notices import (
    APPLICATION_NAME,
    CHANNEL,
    RevocationListener,
    libpq_url,
)
from adapters.sql.unit_of_work import SqlUnitOfWork
from application.authenticate import SessionsInStore
from domain.session import Session
from tests.integration.test_repository_contract import (
    T0,
    a_session,
    a_token,
    a_user,
    saved,
)
from tests.waiting import PATIENCE_SECONDS, wait_for

AN_HOUR = 3600.0


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    yield engine
    engine.dispose()


@contextmanager
def listening(url: str, epoch: RevocationEpoch) -> Iterator[RevocationListener]:
    listener = RevocationListener(url, epoch, retry_seconds=0.1)
    listener.start()
    try:
        assert listener.wait_until_listening(PATIENCE_SECONDS)
        yield listener
    finally:
        listener.stop()


def moved(epoch: RevocationEpoch, since: int) -> bool:
    return wait_for(lambda: epoch.value != since)


def started_session(engine: Engine) -> Session:
    user = a_user(f"{uuid4().hex}@example.com")
    session = a_session(user)
    saved(lambda autocommit=False: SqlUnitOfWork(engine), user, session, a_token(session))
    return session


def cache_of_another_process(engine: Engine, epoch: RevocationEpoch) -> CachedLiveSessions:
    store = SessionsInStore(lambda autocommit=False: SqlUnitOfWork(engine, autocommit=autocommit))
    return CachedLiveSessions(store, epoch, ttl_seconds=AN_HOUR)


@pytest.mark.parametrize("autocommit", [False, True], ids=["transaction", "autocommit"])
def test_a_revocation_committed_here_empties_the_cache_of_another_process(
    engine: Engine, postgres_url: str, autocommit: bool
) -> None:
    session = started_session(engine)
    theirs = RevocationEpoch()
    cache = cache_of_another_process(engine, theirs)
    with listening(postgres_url, theirs):
        assert cache.live_until(session.id, session.user_id) == session.expires_at
        before = theirs.value

        with SqlUnitOfWork(engine, RevocationEpoch(), autocommit=autocommit) as uow:
            uow.sessions.revoke(session.id, T0 + timedelta(minutes=1))
            uow.commit()

        assert moved(theirs, before)
        assert cache.live_until(session.id, session.user_id) is None


def test_an_autocommit_revocation_is_announced_without_a_commit_call(
    engine: Engine, postgres_url: str
) -> None:
    # A use case that raises after its revocation ran (reuse detection) may
    # never call commit(): in autocommit the revocation stands all the same.
    session = started_session(engine)
    theirs = RevocationEpoch()
    with listening(postgres_url, theirs):
        before = theirs.value
        with SqlUnitOfWork(engine, autocommit=True) as uow:
            uow.sessions.revoke(session.id, T0 + timedelta(minutes=1))
        assert moved(theirs, before)


def test_a_revocation_rolled_back_announces_nothing(engine: Engine, postgres_url: str) -> None:
    session = started_session(engine)
    with psycopg.connect(libpq_url(postgres_url), autocommit=True) as ear:
        ear.execute(f"LISTEN {CHANNEL}")
        with SqlUnitOfWork(engine) as uow:
            uow.sessions.revoke(session.id, T0 + timedelta(minutes=1))
            # no commit: rolled back on the way out
        with SqlUnitOfWork(engine) as uow:
            uow.sessions.revoke(session.id, T0 + timedelta(minutes=2))
            uow.commit()
        # Notices arrive in commit order: the first is the committed revocation's.
        first = next(ear.notifies(timeout=PATIENCE_SECONDS, stop_after=1))
        assert first.payload == ""
        with SqlUnitOfWork(engine) as uow:
            assert uow.sessions.get(session.id).revoked_at == T0 + timedelta(minutes=2)  # type: ignore[union-attr]
        assert list(ear.notifies(timeout=0.2)) == []


def test_a_unit_without_a_revocation_announces_nothing(engine: Engine, postgres_url: str) -> None:
    with psycopg.connect(libpq_url(postgres_url), autocommit=True) as ear:
        ear.execute(f"LISTEN {CHANNEL}")
        started_session(engine)
        with psycopg.connect(libpq_url(postgres_url), autocommit=True) as other:
            other.execute(f"SELECT pg_notify('{CHANNEL}', 'marker')")
        first = next(ear.notifies(timeout=PATIENCE_SECONDS, stop_after=1))
        assert first.payload == "marker"


def test_the_listener_listens_again_after_its_connection_is_killed(
    engine: Engine, postgres_url: str
) -> None:
    session = started_session(engine)
    theirs = RevocationEpoch()
    cache = cache_of_another_process(engine, theirs)
    with listening(postgres_url, theirs) as listener:
        assert cache.live_until(session.id, session.user_id) == session.expires_at
        killed = terminate_listeners(engine)
        assert killed == 1
        # Back, and it forgot what it cached: notices sent meanwhile were lost.
        before = theirs.value
        assert moved(theirs, before)
        assert listener.wait_until_listening(PATIENCE_SECONDS)

        before = theirs.value
        with SqlUnitOfWork(engine, autocommit=True) as uow:
            uow.sessions.revoke(session.id, T0 + timedelta(minutes=1))
        assert moved(theirs, before)
        assert cache.live_until(session.id, session.user_id) is None


def test_a_process_does_not_count_its_own_notices_twice(engine: Engine, postgres_url: str) -> None:
    # It moved its epoch at its commit already: hearing its own notice would
    # empty its caches a second time for nothing.
    session = started_session(engine)
    ours = RevocationEpoch()
    with listening(postgres_url, ours) as listener:
        before = ours.value
        with SqlUnitOfWork(engine, ours) as uow:
            uow.sessions.revoke(session.id, T0 + timedelta(minutes=1))
            uow.commit()
        assert wait_for(lambda: listener.notices_read == 1)  # its own, read
        assert ours.value == before + 1
        with psycopg.connect(libpq_url(postgres_url), autocommit=True) as other:
            other.execute(f"SELECT pg_notify('{CHANNEL}', 'another process')")
        assert wait_for(lambda: listener.notices_read == 2)
        assert ours.value == before + 2  # its commit, and the other's notice


def test_a_notice_lost_with_its_connection_finishes_the_unit_without_a_reconnect(
    engine: Engine,
) -> None:
    first, second = started_session(engine), started_session(engine)
    with SqlUnitOfWork(engine, autocommit=True) as uow:
        uow.sessions.revoke(first.id, T0 + timedelta(minutes=1))
        pid = uow.sessions._conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()  # type: ignore[attr-defined]
        with engine.connect() as killer:
            killer.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
            killer.commit()
        uow.commit()  # the notice fails with the connection, and is only logged
        # A write after it fails loudly, never silently outside autocommit.
        with pytest.raises(sa_exc.ResourceClosedError):
            uow.sessions.revoke(second.id, T0 + timedelta(minutes=2))
    with SqlUnitOfWork(engine) as uow:
        assert uow.sessions.get(first.id).revoked_at == T0 + timedelta(minutes=1)  # type: ignore[union-attr]
        assert uow.sessions.get(second.id).revoked_at is None  # type: ignore[union-attr]


def test_a_listener_that_cannot_connect_stops_cleanly() -> None:
    # While the database is down the thread waits between tries: stop() wakes
    # it from that wait, and the two must not both close the wake-up sockets.
    listener = RevocationListener(
        "postgresql+psycopg://postgres@127.0.0.1:1/none", RevocationEpoch(), retry_seconds=0.05
    )
    listener.start()
    time.sleep(0.3)  # a few failed tries; not a measurement
    listener.stop()
    assert not listener.wait_until_listening(0)
    listener.stop()  # a second stop does nothing


def test_stopping_the_listener_closes_its_connection(engine: Engine, postgres_url: str) -> None:
    with listening(postgres_url, RevocationEpoch()):
        assert count_listeners(engine) == 1
    assert wait_for(lambda: count_listeners(engine) == 0)


def count_listeners(engine: Engine) -> int:
    return _on_listeners(engine, "count(*)")


def terminate_listeners(engine: Engine) -> int:
    return _on_listeners(engine, "count(pg_terminate_backend(pid))")


def _on_listeners(engine: Engine, what: str) -> int:
    with engine.connect() as conn:
        found = conn.exec_driver_sql(
            f"SELECT {what} FROM pg_stat_activity "
            "WHERE application_name = %(name)s AND datname = current_database()",
            {"name": APPLICATION_NAME},
        ).scalar_one()
        conn.commit()
    return int(found)
