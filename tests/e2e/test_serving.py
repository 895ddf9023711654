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
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
            [sys.executable, "-c", SERVE, str(port)],
            cwd=REPO,
            # The workers' metrics directory goes here: a killed supervisor leaves it.
            env={**os.environ, "TMPDIR": str(tmp_path)},
            stdout=out,
            stderr=out,
            start_new_session=True,  # a process group of its own, as in a terminal
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
    return set(_shares(base_url, connections))


def _shares(base_url: str, connections: int) -> Counter[int]:
    """The worker behind each of `connections` keep-alive connections, all opened
    before the first request: what a load balancer's connection pool does."""
    host, port = base_url.removeprefix("http://").split(":")
    sockets = [socket.create_connection((host, int(port)), timeout=10) for _ in range(connections)]
    try:
        time.sleep(0.2)  # every connection waits to be accepted at once
        pids: Counter[int] = Counter()
        for sock in sockets:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
            answer = b""
            while not answer.endswith(b"}"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
            pids[int(answer.rsplit(b'"pid":', 1)[1].rstrip(b"}"))] += 1
        return pids
    finally:
        for sock in sockets:
            sock.close()


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
        _wait_for_two_workers(base_url)
        # The kernel hashes each connection to one of the two sockets: fewer than
        # 6 of 32 on one worker has a chance of 1 in 25,000. With one shared
        # socket, the first worker to wake takes (nearly) all of them.
        for _ in range(3):
            shares = _shares(base_url, 32)
            assert len(shares) == 2
            assert min(shares.values()) >= 6, shares


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


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie no one reaped yet counts as gone: it serves nothing.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] == "Z"


def _wait_until_gone(pids: set[int]) -> bool:
    deadline = time.monotonic() + 20
    while not all(_gone(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return all(_gone(pid) for pid in pids)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_stops_the_supervisor_and_every_worker(
    tmp_path: Path, stop: signal.Signals
) -> None:
    with two_workers(tmp_path) as (base_url, supervisor):
        workers = _wait_for_two_workers(base_url)
        supervisor.send_signal(stop)
        assert supervisor.wait(timeout=30) == 0
        assert _wait_until_gone(workers)


def test_ctrl_c_in_a_terminal_stops_everything_in_order(tmp_path: Path) -> None:
    with two_workers(tmp_path) as (base_url, supervisor):
        workers = _wait_for_two_workers(base_url)
        os.killpg(supervisor.pid, signal.SIGINT)  # what the terminal sends: the whole group
        assert supervisor.wait(timeout=30) == 0
        assert _wait_until_gone(workers)
        log = (tmp_path / "serve.log").read_text()
        assert "Traceback" not in log, log


def test_workers_do_not_outlive_a_killed_supervisor(tmp_path: Path) -> None:
    with two_workers(tmp_path) as (base_url, supervisor):
        workers = _wait_for_two_workers(base_url)
        supervisor.kill()
        supervisor.wait(timeout=30)
        assert _wait_until_gone(workers)


def test_a_second_server_on_the_same_port_is_refused(tmp_path: Path) -> None:
    with two_workers(tmp_path) as (base_url, _):
        port = base_url.rsplit(":", 1)[1]
        second = subprocess.run(
            [sys.executable, "-c", SERVE, port], cwd=REPO, capture_output=True, timeout=60
        )
    assert second.returncode != 0
    assert b"Address already in use" in second.stderr


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
