"""Throwaway PostgreSQL databases for integration and end-to-end tests.

The server is postgresql://postgres@127.0.0.1:5432/postgres (trust auth) unless
LATCHKEY_TEST_POSTGRES_ADMIN_URL names another maintenance database.
"""

from __future__ import annotations

import os
import time
from uuid import uuid4

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine, make_url, text

ADMIN_URL = os.environ.get(
    "LATCHKEY_TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


class PostgresUnavailableError(RuntimeError):
    pass


def create_database() -> str:
    """Create a uniquely named empty database; return its SQLAlchemy URL."""
    name = f"latchkey_test_{uuid4().hex}"
    try:
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as error:
        where = make_url(ADMIN_URL).render_as_string(hide_password=True)
        raise PostgresUnavailableError(f"PostgreSQL at {where} is unreachable: {error}") from None
    url = make_url(ADMIN_URL).set(drivername="postgresql+psycopg", database=name)
    return url.render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    name = make_url(url).database
    # Only ever drop what create_database() made.
    if name is None or not name.startswith("latchkey_test_"):
        raise ValueError(f"refusing to drop {name!r}: not a test database")
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
        # FORCE ends sessions a test left open (a pool, a server subprocess).
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def create_database_or_skip() -> str:
    """create_database(), but a missing server skips the test, or fails it under CI."""
    try:
        return create_database()
    except PostgresUnavailableError as error:
        if os.environ.get("CI"):
            pytest.fail(f"{error} (CI is set, so PostgreSQL tests must run)", pytrace=False)
        pytest.skip(f"{error}; set CI=1 to make this a failure")


def waiting_on_a_lock(engine: Engine, timeout_s: float = 10) -> None:
    """Returns once some other backend waits for a lock; fails after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if conn.execute(query).scalar_one():
                return
        time.sleep(0.02)
    pytest.fail("no statement waited for a row lock")
