"""Engine construction: the per-backend settings that make the adapters safe."""

from __future__ import annotations

import os
import select
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, exc, make_url
from sqlalchemy.engine import URL
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

# A pooled connection idle for longer is pinged before use.
IDLE_PING_SECONDS = 1.0
CONNECT_TIMEOUT_SECONDS = 5
# A peer that stopped answering (a partition, a dead host) is found within about
# 11 seconds, even on a connection that only waits (revocation_notices.py).
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10000,
}


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 0,
    pool_timeout: float = 5,
    connect_timeout: int = CONNECT_TIMEOUT_SECONDS,
    idle_ping_seconds: float = IDLE_PING_SECONDS,
) -> Engine:
    """An engine for `sqlite:///path` or `postgresql+psycopg://...`.

    The pool sizes and timeouts apply to PostgreSQL; SQLite serializes writers
    anyway. Every wait on PostgreSQL is bounded, so that an outage answers 503
    within seconds instead of holding requests: the connect, a free pooled
    connection, a statement (server side), and a peer that stopped answering
    mid-request (TCP keepalives and user timeout, client side).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    engine = create_engine(
        parsed,
        # Bound values (emails, hashes) never appear in error messages or logs.
        hide_parameters=True,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        isolation_level="READ COMMITTED",
        connect_args={
            "connect_timeout": connect_timeout,
            # The session default, not only SQLAlchemy's per-BEGIN level:
            # autocommit statements (SqlUnitOfWork's) send no BEGIN.
            "options": (
                r"-c statement_timeout=5000 -c default_transaction_isolation=read\ committed"
            ),
            **KEEPALIVES,
        },
    )
    _ping_when_idle(engine, idle_ping_seconds)
    return engine


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Replace, at checkout, a pooled connection that died while idle (a server restart).

    SQLAlchemy's `pool_pre_ping` pings at every checkout: a round trip per
    request. A connection in steady use has just proven itself, so only one
    idle for over `idle_seconds` is pinged, or one with input waiting: an idle
    connection hears from the server only when it goes away (its goodbye, or
    the socket's end), and looking costs a system call, not a round trip.
    Recovery needs no restart, and the first request after it succeeds.
    """

    @event.listens_for(engine, "checkin")
    def on_checkin(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def on_checkout(
        dbapi_connection: Any, record: ConnectionPoolEntry, proxy: PoolProxiedConnection
    ) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None:
            return  # just connected
        if time.monotonic() - idle_since <= idle_seconds and not _has_input(dbapi_connection):
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            # Like pool_pre_ping: this connection is reconnected, and every other
            # pooled one (as old, so as dead after a server restart) is replaced too.
            raise exc.InvalidatePoolError() from error


def _has_input(dbapi_connection: Any) -> bool:
    # poll, not select: a busy server's sockets are numbered past select's 1024.
    poller = select.poll()
    try:
        poller.register(dbapi_connection.fileno(), select.POLLIN)
    except Exception:  # psycopg's "the connection is closed", or the socket's
        return True  # the ping then fails, and the connection is replaced
    return bool(poller.poll(0))


def _sqlite_engine(url: URL) -> Engine:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        # It holds password hashes and sealed keys: made readable by its owner
        # only, as the key files beside it are. SQLite gives its -wal and -shm
        # files the mode of the database file. An existing file keeps its mode.
        with suppress(FileExistsError):
            os.close(os.open(database, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600))
    engine = create_engine(url, hide_parameters=True)

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        # Take transaction control away from sqlite3 so that "begin" below is
        # the only BEGIN ever sent (the SQLAlchemy pysqlite recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=5000")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        # IMMEDIATE takes the write lock up front: concurrent transactions that
        # read then write (a token rotation) queue on busy_timeout instead of
        # failing with "database is locked" when upgrading a read lock.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
