"""CPU time of the processes behind a run: a server's workers, and PostgreSQL.

Read from /proc (user + system time) when a run's wrk starts and when it has
ended. PostgreSQL shares the cores with the servers and wrk here, so its CPU
per refresh bounds the refresh rate of this run's machine: with C cores and p
seconds per refresh, no more than C / p refreshes a second, however little
everything else cost (bench/README.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bench.servers import children

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# How far apart PostgreSQL's and /proc's start times of one process may be:
# /proc counts in clock ticks since boot, and boot time is whole seconds.
SAME_START_SECONDS = 2.0


def cpu_seconds(pids: Iterable[int], *, reaped_children_of: int | None = None) -> float:
    """User + system time of `pids`, and of the reaped children of one of them.

    A PostgreSQL backend that ends during a run leaves the list of processes,
    and its time moves to the postmaster's reaped children: counting both
    keeps the total steady. One reaped between the listing and the reading is
    missed: an undercount, which only raises the bound."""
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
    """The PostgreSQL server's main process, when it runs on this machine.

    The parent of this connection's backend, if it started when PostgreSQL
    says its server started: a PostgreSQL in a container, or on another
    machine, would have its backend's number name some other process here."""
    row = conn.execute(
        "SELECT pg_backend_pid(), extract(epoch FROM pg_postmaster_start_time())"
    ).fetchone()
    if row is None:
        return None
    backend, started = row
    assert isinstance(backend, int)
    fields = _stat(backend)
    if fields is None:
        return None
    parent = int(fields[1])
    parent_started = _started_at(parent)
    if parent_started is None or abs(parent_started - float(str(started))) > SAME_START_SECONDS:
        return None
    return parent


def postgres_cpu_seconds(postmaster: int) -> float:
    return cpu_seconds([postmaster, *children(postmaster)], reaped_children_of=postmaster)


@dataclass(frozen=True)
class PerRequest:
    """CPU milliseconds per request of one run."""

    workers_ms: float
    postgres_ms: float | None  # None: PostgreSQL is not on this machine


class Meter:
    """Started at construction; `per_request` reads again when the run has ended."""

    def __init__(self, workers: Sequence[int], postmaster: int | None) -> None:
        self._workers = list(workers)
        self._postmaster = postmaster
        self._start = self._now()

    def per_request(self, requests: int) -> PerRequest:
        workers, postgres = self._now()
        per_request = 1000 / max(1, requests)
        return PerRequest(
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


def _started_at(pid: int) -> float | None:
    """When `pid` started, in seconds since the epoch."""
    fields = _stat(pid)
    if fields is None:
        return None
    boot = next(
        int(line.split()[1])
        for line in Path("/proc/stat").read_text().splitlines()
        if line.startswith("btime ")
    )
    return boot + int(fields[19]) / CLOCK_TICKS
