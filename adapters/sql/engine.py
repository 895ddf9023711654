"""Engine construction: the per-backend settings that make the adapters safe."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.pool import ConnectionPoolEntry


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    pool_timeout: float = 5,
    connect_timeout: int = 5,
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
    return create_engine(
        parsed,
        # Bound values (emails, hashes) never appear in error messages or logs.
        hide_parameters=True,
        # A pooled connection that died while idle (server restart) is
        # replaced at checkout: recovery needs no restart of the service.
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        isolation_level="READ COMMITTED",
        connect_args={
            "connect_timeout": connect_timeout,
            "options": "-c statement_timeout=5000",
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 3,
            "tcp_user_timeout": 10000,
        },
    )


def _sqlite_engine(url: URL) -> Engine:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
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
