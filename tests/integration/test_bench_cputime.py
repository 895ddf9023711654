"""The bench's CPU accounting of PostgreSQL (bench/cputime.py): it finds the
server's processes and keeps the time of backends that end during a run."""

from __future__ import annotations

import os
import time
from typing import cast

import psycopg
import pytest
from sqlalchemy import make_url

from bench.cputime import cpu_seconds, postgres_cpu_seconds, postmaster_of
from bench.servers import children

# Enough work to cost a backend many clock ticks of CPU on any machine.
BUSY_QUERY = "SELECT count(*) FROM generate_series(1, 3000000)"


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _postmaster(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    postmaster = postmaster_of(conn)
    if postmaster is None:
        message = "PostgreSQL's processes are not readable here (another machine or container)"
        if os.environ.get("CI"):
            # CI's PostgreSQL runs on the same machine: not finding it is a bug.
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return postmaster


def _backend_pid(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    return int(str(row[0]))


def test_the_postmaster_is_the_parent_of_a_backend(postgres_url: str) -> None:
    with psycopg.connect(_dsn(postgres_url), autocommit=True) as conn:
        postmaster = _postmaster(conn)
        assert _backend_pid(conn) in children(postmaster)


def test_a_backend_that_ends_keeps_its_cpu_in_the_total(postgres_url: str) -> None:
    with psycopg.connect(_dsn(postgres_url), autocommit=True) as conn:
        postmaster = _postmaster(conn)
    before = postgres_cpu_seconds(postmaster)
    with psycopg.connect(_dsn(postgres_url), autocommit=True) as busy:
        backend = _backend_pid(busy)
        busy.execute(BUSY_QUERY)
        own = cpu_seconds([backend])
    assert own > 0
    deadline = time.monotonic() + 10
    while backend in children(postmaster) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert backend not in children(postmaster), "the backend did not end"
    # Its time moved to the postmaster's reaped children, not lost.
    assert postgres_cpu_seconds(postmaster) >= before + own


class _ServerElsewhere:
    """Answers as a PostgreSQL in a container might: its backend's number names
    a process here (this one), which did not start when that server did."""

    def execute(self, query: str) -> _ServerElsewhere:
        return self

    def fetchone(self) -> tuple[object, ...]:
        return (os.getpid(), 0.0)


def test_a_backend_number_of_a_server_elsewhere_names_no_postmaster() -> None:
    elsewhere = cast(psycopg.Connection[tuple[object, ...]], _ServerElsewhere())
    assert postmaster_of(elsewhere) is None
