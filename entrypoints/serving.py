"""Serving an ASGI app with several worker processes that share the load evenly.

uvicorn's own workers share one listening socket, and each worker's event
loop accepts every pending connection at once: with long-lived keep-alive
connections (a load balancer, a connection pool) one worker ends up with
nearly all of them and the other cores idle. On Linux each worker here listens
on its own socket bound with SO_REUSEPORT, so the kernel spreads connections
over the workers. A small supervisor starts the workers, replaces one that is
killed, and stops them on SIGINT or SIGTERM. The workers' metrics are summed
through prometheus_client's multiprocess mode, in a directory of the
supervisor's own.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

import uvicorn

from adapters.metrics import MULTIPROCESS_DIRECTORY

log = logging.getLogger("uvicorn.error")

STOP_SECONDS = 30
# A worker that exits by itself this soon after starting would do so again: stop instead.
STARTUP_SECONDS = 10.0
# A worker killed again and again (out of memory, a crash) is replaced ever more slowly.
MAX_RESTART_DELAY_SECONDS = 30.0
_PR_SET_PDEATHSIG = 1


def serve(app: str, *, host: str, port: int, workers: int, **options: Any) -> None:
    """Serve `app` ("module:attribute") until SIGINT or SIGTERM."""
    if workers <= 1 or not sys.platform.startswith("linux"):
        # Elsewhere SO_REUSEPORT does not spread connections: uvicorn's own workers.
        uvicorn.run(app, host=host, port=port, workers=workers, **options)
        return
    config = uvicorn.Config(app, host=host, port=port, workers=1, **options)
    # SO_REUSEPORT would let this bind succeed next to another server of the
    # same user (a second `latchkey serve`) and split its traffic: first make
    # sure that nobody listens on the address.
    _listen_once(host, port)
    # Bound, never listening: it holds the address for the workers' group.
    with _reuse_port_socket(host, port), _shared_metrics():
        Supervisor(config, workers).run()


class MetricsDirectoryError(Exception):
    """The workers' shared metrics directory could not be made."""


@contextmanager
def _shared_metrics() -> Iterator[None]:
    """Each worker writes its counts to files in one directory, and /metrics sums
    them: otherwise a scrape reads whichever worker answers, and every counter
    seems to jump back and forth. The workers read the variable when they
    import prometheus_client. The directory is always a new, empty one of this
    server's own, never an inherited one: counts left by an earlier server or
    by a CLI command would be added, and two servers' workers could share a pid."""
    try:
        directory = tempfile.mkdtemp(prefix="latchkey-metrics-")
    except OSError as error:
        raise MetricsDirectoryError(
            f"cannot make the workers' metrics directory in {tempfile.gettempdir()}"
            f" (set TMPDIR to a writable directory): {error.strerror or error}"
        ) from None
    previous = os.environ.get(MULTIPROCESS_DIRECTORY)
    os.environ[MULTIPROCESS_DIRECTORY] = directory
    try:
        yield
    finally:
        if previous is None:
            del os.environ[MULTIPROCESS_DIRECTORY]
        else:
            os.environ[MULTIPROCESS_DIRECTORY] = previous
        shutil.rmtree(directory, ignore_errors=True)


def _socket(host: str) -> socket.socket:
    return socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)


def _listen_once(host: str, port: int) -> None:
    with _socket(host) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


def _reuse_port_socket(host: str, port: int) -> socket.socket:
    sock = _socket(host)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def run_worker(config: uvicorn.Config) -> None:
    """A worker process: its own listening socket, one uvicorn server."""
    # Its own process group: a Ctrl-C in the terminal reaches the supervisor
    # only, which stops the workers in order. And it dies with the supervisor,
    # so a killed supervisor leaves no worker serving on.
    os.setpgrp()
    _die_with_parent()
    config.configure_logging()
    sock = _reuse_port_socket(config.host, config.port)
    uvicorn.Server(config).run(sockets=[sock])


def _die_with_parent() -> None:
    name = ctypes.util.find_library("c")
    if name is not None:
        ctypes.CDLL(name, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    def __init__(self, config: uvicorn.Config, workers: int) -> None:
        self._config = config
        self._count = workers
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Slot] = []
        # A plain flag, not a threading.Event: a signal handler that takes a
        # lock the interrupted code holds would deadlock.
        self._stopping = False
        self._failed = False

    def run(self) -> None:
        """Until a stop signal; SystemExit(1) when a worker could not start."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in _STOP_SIGNALS}
        try:
            self._workers = [self._start(_Slot()) for _ in range(self._count)]
            while not self._stopping:
                time.sleep(0.5)
                self._replace_dead_workers()
            self._stop_all()
        finally:
            self._kill_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self._failed:
            raise SystemExit(1)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._stopping:
            # A second signal while the workers finish their requests: stop now.
            # Only os.kill here; the joins are the interrupted code's business.
            for process in self._processes():
                if process.is_alive():
                    process.kill()
        self._stopping = True

    def _start(self, slot: _Slot) -> _Slot:
        process = self._context.Process(target=run_worker, args=(self._config,))
        process.start()
        log.info("Started worker process [%s]", process.pid)
        return _Slot(process, _now(), slot.restarts)

    def _replace_dead_workers(self) -> None:
        for index, slot in enumerate(self._workers):
            process = slot.process
            if process is None or process.is_alive() or self._stopping:
                continue
            process.join()
            killed = process.exitcode is not None and process.exitcode < 0
            quick = _now() - slot.started < STARTUP_SECONDS
            if quick and not killed:
                # It exited by itself right away (an import error, a bad setting):
                # its replacement would do the same.
                log.error("Worker [%s] failed to start; stopping", process.pid)
                self._failed = True
                self._stopping = True
                return
            restarts = slot.restarts + 1 if quick else 0
            delay = min(MAX_RESTART_DELAY_SECONDS, 0.5 * (2**restarts - 1))
            log.warning(
                "Worker [%s] died (exit %s); replacing it in %.1f s",
                process.pid,
                process.exitcode,
                delay,
            )
            self._workers[index] = _Slot(None, _now() + delay, restarts)
        for index, slot in enumerate(self._workers):
            if slot.process is None and _now() >= slot.started and not self._stopping:
                self._workers[index] = self._start(slot)

    def _stop_all(self) -> None:
        for process in self._processes():
            if process.is_alive():
                # Each worker's uvicorn finishes its requests in flight, then exits.
                process.terminate()
        deadline = _now() + STOP_SECONDS
        for process in self._processes():
            process.join(max(0.0, deadline - _now()))

    def _kill_all(self) -> None:
        for process in self._processes():
            if process.is_alive():
                process.kill()
        for process in self._processes():
            process.join()

    def _processes(self) -> list[BaseProcess]:
        return [slot.process for slot in self._workers if slot.process is not None]


class _Slot:
    """One worker's place: its process (None while a restart waits), when it
    started (or may restart), and how many quick deaths in a row it has had."""

    def __init__(
        self, process: BaseProcess | None = None, started: float = 0.0, restarts: int = 0
    ) -> None:
        self.process = process
        self.started = started
        self.restarts = restarts


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _now() -> float:
    return time.monotonic()
