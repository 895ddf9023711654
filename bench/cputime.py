"""CPU time of the processes behind a run: a server's workers, and PostgreSQL.

Read from /proc (user + system time) before and after each run. On this
machine PostgreSQL shares the cores with the servers and the load generator,
so its CPU per refresh bounds the refresh throughput that any server could
reach: with cores C and PostgreSQL spending p seconds per refresh, no more
than C / p refreshes per second, even if everything else cost nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bench.servers import children

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: Iterable[int], *, reaped_children_of: int | None = None) -> float:
    """User + system time of `pids`, and of the reaped children of one of them.

    A PostgreSQL backend that ends during a run leaves the list of processes,
    and its time moves to the postmaster's reaped children: counting both
    keeps the total steady."""
    ticks = 0
    for pid in pids:
        fields = _stat(pid)
        if fields is None:
            continue  # ended meanwhile
        ticks += int(fields[11]) + int(fields[12])
        if pid == reaped_children_of:
            ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


def postmaster_of(conn: psycopg.Connection[tuple[object, ...]]) -> int | None:
    """The PostgreSQL server's main process, when it runs on this machine."""
    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    fields = _stat(int(str(row[0]))) if row else None
    if fields is None:
        return None  # another machine (or another PID namespace)
    parent = int(fields[1])
    return parent if _name(parent) in {"postgres", "postmaster"} else None


def postgres_cpu_seconds(postmaster: int) -> float:
    return cpu_seconds([postmaster, *children(postmaster)], reaped_children_of=postmaster)


@dataclass(frozen=True)
class Spent:
    """CPU milliseconds per request of one run."""

    workers_ms: float
    postgres_ms: float | None  # None: PostgreSQL is not on this machine


class Meter:
    """Started at construction: a run's CPU, read again when it has ended."""

    def __init__(self, workers: Sequence[int], postmaster: int | None) -> None:
        self._workers = list(workers)
        self._postmaster = postmaster
        self._start = self._now()

    def spent(self, requests: int) -> Spent:
        workers, postgres = self._now()
        per_request = 1000 / max(1, requests)
        return Spent(
            workers_ms=(workers - self._start[0]) * per_request,
            postgres_ms=None
            if postgres is None or self._start[1] is None
            else (postgres - self._start[1]) * per_request,
        )

    def _now(self) -> tuple[float, float | None]:
        postgres = None if self._postmaster is None else postgres_cpu_seconds(self._postmaster)
        return cpu_seconds(self._workers), postgres


def _stat(pid: int) -> list[str] | None:
    """/proc/PID/stat's fields after the name (which may hold spaces): state is [0]."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def _name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""
