"""Serving an ASGI app with several worker processes that share the load evenly.

uvicorn's own workers share one listening socket, and each worker's event
loop accepts every pending connection at once: with long-lived keep-alive
connections (a load balancer, a connection pool) one worker ends up with
nearly all of them and the other cores idle. Here each worker listens on its
own socket bound with SO_REUSEPORT, so the kernel spreads connections over the
workers. A small supervisor starts the workers, replaces one that dies, and
stops them on SIGINT or SIGTERM.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import threading
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

import uvicorn

log = logging.getLogger("uvicorn.error")

STOP_SECONDS = 30
# A worker that exits by itself this soon after starting would do so again: stop instead.
STARTUP_SECONDS = 10.0


def serve(app: str, *, host: str, port: int, workers: int, **options: Any) -> None:
    """Serve `app` ("module:attribute") until SIGINT or SIGTERM."""
    if workers <= 1 or not hasattr(socket, "SO_REUSEPORT"):
        uvicorn.run(app, host=host, port=port, workers=workers, **options)
        return
    config = uvicorn.Config(app, host=host, port=port, workers=1, **options)
    # Bound, never listening: it reserves the address for the workers' group
    # and fails here, once, when another program already uses the port.
    with _reuse_port_socket(host, port):
        Supervisor(config, workers).run()


def _reuse_port_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
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
    config.configure_logging()
    sock = _reuse_port_socket(config.host, config.port)
    uvicorn.Server(config).run(sockets=[sock])


class Supervisor:
    def __init__(
        self,
        config: uvicorn.Config,
        workers: int,
        target: Callable[[uvicorn.Config], None] = run_worker,
    ) -> None:
        self._config = config
        self._count = workers
        self._target = target
        self._context = multiprocessing.get_context("spawn")
        self._stop = threading.Event()
        self._workers: list[tuple[BaseProcess, float]] = []
        self._failed = False

    def run(self) -> None:
        """Until a stop signal; SystemExit(1) when a worker could not start."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in _STOP_SIGNALS}
        try:
            self._workers = [self._start() for _ in range(self._count)]
            while not self._stop.wait(0.5):
                self._replace_dead_workers()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._stop_all()
        if self._failed:
            raise SystemExit(1)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stop.set()

    def _start(self) -> tuple[BaseProcess, float]:
        process = self._context.Process(target=self._target, args=(self._config,))
        process.start()
        log.info("Started worker process [%s]", process.pid)
        return process, _now()

    def _replace_dead_workers(self) -> None:
        for index, (process, started) in enumerate(self._workers):
            if process.is_alive():
                continue
            process.join()
            killed = process.exitcode is not None and process.exitcode < 0
            if not killed and _now() - started < STARTUP_SECONDS:
                # It exited by itself right away (an import error, a bad setting,
                # a port taken): its replacement would do the same.
                log.error("Worker [%s] failed to start; stopping", process.pid)
                self._failed = True
                self._stop.set()
                return
            log.warning("Worker [%s] died (exit %s); replacing it", process.pid, process.exitcode)
            self._workers[index] = self._start()

    def _stop_all(self) -> None:
        for process, _ in self._workers:
            if process.is_alive() and process.pid is not None:
                # Each worker's uvicorn finishes its requests in flight, then exits.
                process.terminate()
        for process, _ in self._workers:
            process.join(STOP_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _now() -> float:
    return time.monotonic()
