"""The two servers under load: `latchkey serve` and uvicorn serving bench/hello.py.

Both run the same uvicorn, with the same worker count, on loopback, as
separate process groups that `stop()` ends.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def worker_pids(self) -> list[int]:
        """uvicorn's worker processes (multiprocessing children), or the server itself."""
        # taskset exec()s the server, so the server is this pid, not a child of it.
        workers = [pid for pid in children(self.process.pid) if b"spawn_main" in _cmdline(pid)]
        return workers or [self.process.pid]

    def stop(self) -> None:
        if self.process.poll() is None:
            # SIGTERM to the whole group: the supervisor, its workers, and taskset.
            _signal_group(self.process, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                _signal_group(self.process, signal.SIGKILL)
                self.process.wait()


def start_server(
    name: str,
    command: Sequence[str],
    *,
    port: int,
    health_path: str,
    log_dir: Path,
    env: Mapping[str, str],
    cpus: Sequence[int] = (),
) -> Server:
    if cpus:
        command = ["taskset", "--cpu-list", ",".join(map(str, cpus)), *command]
    log = log_dir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(name, process, f"http://127.0.0.1:{port}", log)
    try:
        _wait_until_healthy(server, health_path)
    except BaseException:
        server.stop()
        raise
    return server


def latchkey_command(port: int, workers: int) -> list[str]:
    return [
        str(BIN / "latchkey"),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def hello_command(port: int, workers: int) -> list[str]:
    # The same serving code as `latchkey serve`, with no access log: it is the ceiling.
    return [
        str(BIN / "python"),
        "-m",
        "bench.hello",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def memory_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process, in KiB; VmHWM is its peak RSS so far."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


def reset_peak(pid: int) -> bool:
    """Restart VmHWM from the current RSS (Linux clear_refs "5"); False if not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def _wait_until_healthy(server: Server, path: str, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            tail = server.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}:\n{tail}")
        try:
            if httpx.get(server.base_url + path, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} did not answer {path} within {timeout_s:.0f} s")
