"""Several workers, each on its own SO_REUSEPORT socket, under one supervisor:
connections are spread over the workers, a dead worker is replaced, and a
stop signal stops them all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.server import free_port, wait_until_healthy

REPO = Path(__file__).resolve().parents[2]
SERVE = (
    "import sys; from entrypoints import serving; "
    "serving.serve('tests.apps.whoami:app', host='127.0.0.1', port=int(sys.argv[1]), "
    "workers=2, log_level='warning')"
)


@contextmanager
def two_workers(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(port)], cwd=REPO, stdout=out, stderr=out
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base_url, process, "serving", seconds=30, log=log)
        yield base_url, process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _pids(base_url: str, connections: int) -> set[int]:
    """The worker behind each of `connections` separate keep-alive connections."""
    pids = set()
    for _ in range(connections):
        with httpx.Client(base_url=base_url) as client:
            pids.add(client.get("/healthz").json()["pid"])
    return pids


def _wait_for_two_workers(base_url: str) -> set[int]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pids = _pids(base_url, 16)
        if len(pids) == 2:
            return pids
        time.sleep(0.2)
    raise AssertionError("the connections never reached two workers")


def test_connections_are_spread_over_the_workers(tmp_path: Path) -> None:
    with two_workers(tmp_path) as (base_url, _):
        # Each of 32 connections lands on one of the two sockets by the kernel's
        # hash: all on one worker has a chance of 2 in 2**32.
        pids = _wait_for_two_workers(base_url)
        assert len(_pids(base_url, 32)) == 2
        assert pids == _pids(base_url, 32)


def test_a_worker_that_dies_is_replaced(tmp_path: Path) -> None:
    with two_workers(tmp_path) as (base_url, supervisor):
        before = _wait_for_two_workers(base_url)
        victim = min(before)
        os.kill(victim, signal.SIGKILL)

        deadline = time.monotonic() + 30
        after = before
        while victim in after and time.monotonic() < deadline:
            time.sleep(0.3)
            after = _pids(base_url, 16)
        assert victim not in after
        assert supervisor.poll() is None
        assert len(_wait_for_two_workers(base_url)) == 2


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_stops_the_supervisor_and_every_worker(
    tmp_path: Path, stop: signal.Signals
) -> None:
    with two_workers(tmp_path) as (base_url, supervisor):
        workers = _wait_for_two_workers(base_url)
        supervisor.send_signal(stop)
        assert supervisor.wait(timeout=30) == 0
        for pid in workers:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)


def test_a_port_another_program_listens_on_is_refused(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as other:
        other.bind(("127.0.0.1", port))
        other.listen()
        refused = subprocess.run(
            [sys.executable, "-c", SERVE, str(port)], cwd=REPO, capture_output=True, timeout=60
        )
    assert refused.returncode != 0
    assert b"Address already in use" in refused.stderr


def test_a_worker_that_cannot_start_stops_the_supervisor(tmp_path: Path) -> None:
    broken = SERVE.replace("tests.apps.whoami:app", "tests.apps.no_such_module:app")
    failed = subprocess.run(
        [sys.executable, "-c", broken, str(free_port())], cwd=REPO, capture_output=True, timeout=60
    )
    assert failed.returncode == 1
