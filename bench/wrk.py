"""Running wrk (the load generator) with a Lua script, pinned to its own CPUs.

Every script loads bench/lua/common.lua, whose `done()` prints one line
`BENCH_RESULT {json}`: the counts and latency percentiles come from wrk's own
figures, not from parsing its human-readable report.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

LUA_DIR = Path(__file__).with_name("lua")


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    errors: int  # non-2xx/3xx answers, plus socket errors and timeouts
    chains_lost: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    cpu_seconds: float  # the load generator's own CPU time (user + system)

    @property
    def good_per_second(self) -> float:
        """Successful answers per second: the throughput that counts."""
        return max(0, self.requests - self.errors) / self.seconds if self.seconds else 0.0

    @property
    def error_share(self) -> float:
        return self.errors / self.requests if self.requests else 1.0

    @property
    def cpu_share(self) -> float:
        """Load-generator CPU per wall-clock second (1.0 = one core busy)."""
        return self.cpu_seconds / self.seconds if self.seconds else 0.0


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise RuntimeError("wrk is not installed: `make bench` installs it (apt-get install wrk)")
    return path


class Wrk:
    """One wrk process; `result()` waits for it (or interrupts it) and parses its report."""

    def __init__(
        self,
        url: str,
        script: str,
        *,
        seconds: float,
        connections: int,
        threads: int = 1,
        timeout_s: float = 10,
        cpus: Sequence[int] = (),
        env: Mapping[str, str] | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        threads = min(threads, connections)
        command = [
            wrk_path(),
            f"--threads={threads}",
            f"--connections={connections}",
            f"--duration={max(1, round(seconds))}s",
            f"--timeout={max(1, round(timeout_s))}s",
            f"--script={LUA_DIR / script}",
            url,
        ]
        if cpus:
            command = ["taskset", "--cpu-list", ",".join(map(str, cpus)), *command]
        full_env = dict(os.environ)
        full_env.update(env or {})
        full_env.update(BENCH_LUA_DIR=str(LUA_DIR), BENCH_THREADS=str(threads))
        self._on_progress = on_progress
        self._lines: list[str] = []
        self._usage: resource.struct_rusage | None = None
        self._process = subprocess.Popen(
            command, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            if line.startswith("BENCH_PROGRESS ") and self._on_progress is not None:
                self._on_progress(int(line.split()[1]))
            else:
                self._lines.append(line)

    def interrupt(self) -> None:
        """Stop early, as Ctrl-C would: wrk still prints its report."""
        if self.running():
            self._process.send_signal(signal.SIGINT)

    def running(self) -> bool:
        return not self._reap(block=False)

    def _reap(self, *, block: bool) -> bool:
        """Collect the exit status and CPU time once (wait4, not Popen.poll: it
        would reap the child and lose its resource usage)."""
        if self._usage is None:
            pid, status, usage = os.wait4(self._process.pid, 0 if block else os.WNOHANG)
            if not pid:
                return False
            self._process.returncode = os.waitstatus_to_exitcode(status)
            self._usage = usage
        return True

    def result(self, grace_s: float = 30) -> WrkResult:
        deadline = time.monotonic() + grace_s
        while not self._reap(block=False):
            if time.monotonic() > deadline:
                self._process.kill()
                self._reap(block=True)
                break
            time.sleep(0.05)
        usage = self._usage
        assert usage is not None
        self._reader.join(timeout=5)
        output = "".join(self._lines)
        report = next((line for line in self._lines if line.startswith("BENCH_RESULT ")), None)
        if self._process.returncode != 0 or report is None:
            raise RuntimeError(f"wrk failed ({self._process.returncode}):\n{output[-2000:]}")
        data = json.loads(report.removeprefix("BENCH_RESULT "))
        errors = sum(
            int(data[key])
            for key in (
                "connect_errors",
                "read_errors",
                "write_errors",
                "status_errors",
                "timeouts",
            )
        )
        return WrkResult(
            requests=int(data["requests"]),
            seconds=int(data["duration_us"]) / 1e6,
            errors=errors,
            chains_lost=int(data["chains_lost"]),
            p50_ms=int(data["p50_us"]) / 1e3,
            p90_ms=int(data["p90_us"]) / 1e3,
            p99_ms=int(data["p99_us"]) / 1e3,
            max_ms=int(data["max_us"]) / 1e3,
            cpu_seconds=usage.ru_utime + usage.ru_stime,
        )
