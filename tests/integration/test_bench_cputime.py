"""The bench's CPU accounting of PostgreSQL (bench/cputime.py): it finds the
server's processes and keeps the time of backends that end during a run."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import make_url

from bench.cputime import postgres_cpu_seconds, postmaster_of
from bench.servers import children

# Enough work to cost a backend many clock ticks of CPU on any machine.
BUSY_QUERY = "SELECT count(*) FROM generate_series(1, 3000000)"


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _postmaster(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    postmaster = postmaster_of(conn)
    if postmaster is None:
        pytest.skip("PostgreSQL does not run on this machine: its processes cannot be read")
    return postmaster


def _backend_pid(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    return int(str(row[0]))


def test_the_postmaster_is_the_parent_of_a_backend(postgres_url: str) -> None:
    with psycopg.connect(_dsn(postgres_url), autocommit=True) as conn:
        postmaster = _postmaster(conn)
        assert _backend_pid(conn) in children(postmaster)
        assert Path(f"/proc/{postmaster}/comm").read_text().strip() in {"postgres", "postmaster"}


def test_a_backend_that_ends_keeps_its_cpu_in_the_total(postgres_url: str) -> None:
    with psycopg.connect(_dsn(postgres_url), autocommit=True) as conn:
        postmaster = _postmaster(conn)
    before = postgres_cpu_seconds(postmaster)
    with psycopg.connect(_dsn(postgres_url), autocommit=True) as busy:
        backend = _backend_pid(busy)
        busy.execute(BUSY_QUERY)
        while_running = postgres_cpu_seconds(postmaster)
    assert while_running > before
    deadline = time.monotonic() + 10
    while backend in children(postmaster) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert backend not in children(postmaster), "the backend did not end"
    # Its time moved to the postmaster's reaped children, not lost.
    assert postgres_cpu_seconds(postmaster) >= while_running
