"""A real `latchkey serve` process on a free loopback port, for tests that need
a server (third-party HTTP clients, several instances, concurrency)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.leaks import LEDGER

LATCHKEY = str(Path(sys.executable).with_name("latchkey"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Server:
    base_url: str
    pid: int
    log: Path  # its stdout and stderr, where the JSON log lines go


@contextmanager
def running_server(
    data_dir: Path, database_url: str, *, workers: int = 1, **settings: str
) -> Iterator[str]:
    """Start the server, wait until /healthz answers, yield its base URL, stop it."""
    with serving(data_dir, database_url, workers=workers, **settings) as server:
        yield server.base_url


@contextmanager
def serving(
    data_dir: Path, database_url: str, *, workers: int = 1, **settings: str
) -> Iterator[Server]:
    """Like running_server, but yields the process id and the log file too."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LATCHKEY_")}
    env.update(
        LATCHKEY_DATA_DIR=str(data_dir),
        LATCHKEY_DATABASE_URL=database_url,
        LATCHKEY_AUTO_MIGRATE="true",
        LATCHKEY_ISSUER=f"http://127.0.0.1:{port}",
    )
    # Given settings win over the defaults above (instances behind one load
    # balancer share one issuer; a production-like start does not migrate).
    env.update({f"LATCHKEY_{k.upper()}": v for k, v in settings.items()})
    log_path = data_dir.parent / f"server-{port}.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [LATCHKEY, "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base_url, process, "latchkey serve", seconds=60)
        yield Server(base_url=base_url, pid=process.pid, log=log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        # The server's log lines are part of what must never hold a secret.
        LEDGER.record(f"server log {log_path.name}", log_path.read_text(errors="replace"))


def wait_until_healthy(
    base_url: str,
    process: subprocess.Popen[bytes],
    what: str,
    *,
    seconds: float,
    log: Path | None = None,
) -> None:
    """Poll `base_url`/healthz until it answers 200; fail if `process` exits first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            detail = f": {log.read_text()}" if log is not None and log.exists() else ""
            raise RuntimeError(f"{what} exited with {process.returncode}{detail}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer /healthz within {seconds:.0f} s")
