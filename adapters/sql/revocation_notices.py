"""Revocations heard across processes, through PostgreSQL's LISTEN/NOTIFY.

A process caches "this session is live" for up to a second (adapters/caches.py).
A revocation it commits itself empties those caches at once (its
RevocationEpoch); one committed by another worker, another instance or the CLI
used to wait out that second. So every unit of work that commits a revocation
also sends a notice on CHANNEL (adapters/sql/unit_of_work.py), and each serving
process listens on a connection of its own and moves its epoch when a notice
arrives: the others forget within the notice's delivery, milliseconds. A
notice names the process that sent it, which has counted its own revocation
already and ignores it.

Should the listening connection fail, the one-second bound still holds; the
listener reconnects (waiting longer after each failure in a row, up to
MAX_RETRY_SECONDS), and moves the epoch once it listens again, since notices
sent meanwhile are lost.
"""

from __future__ import annotations

import logging
import select
import socket
import threading

import psycopg
from psycopg.conninfo import make_conninfo
from sqlalchemy import make_url, text

from adapters.caches import RevocationEpoch
from adapters.sql.engine import CONNECT_TIMEOUT_SECONDS, KEEPALIVES

log = logging.getLogger(__name__)

CHANNEL = "latchkey_revocations"
NOTICE = text(f"SELECT pg_notify('{CHANNEL}', :payload)")
APPLICATION_NAME = "latchkey-revocation-listener"
RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 30.0


def notice_payload(sender: RevocationEpoch | None) -> str:
    return sender.source if sender is not None else ""


def libpq_url(sqlalchemy_url: str) -> str:
    """`postgresql+psycopg://…` as libpq takes it: `postgresql://…`."""
    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class RevocationListener:
    """Moves `epoch` on its own thread for each revocation notice of another
    process, and once each time it starts listening (notices may have been
    missed before)."""

    def __init__(
        self, url: str, epoch: RevocationEpoch, *, retry_seconds: float = RETRY_SECONDS
    ) -> None:
        self._conninfo = libpq_url(url)
        self._epoch = epoch
        self._retry_seconds = retry_seconds
        self._stopping = threading.Event()
        self._listening = threading.Event()
        # Wakes the thread from its wait on the connection when stop() is called.
        self._wake_read, self._wake_write = socket.socketpair()
        self._thread: threading.Thread | None = None
        # Every notice read, its own included.
        self.notices_read = 0

    def start(self) -> None:
        if self._thread is not None or self._stopping.is_set():
            raise RuntimeError("a revocation listener starts once")
        self._thread = threading.Thread(
            target=self._run, name="latchkey-revocation-listener", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._thread is not None:
            self._wake_write.send(b"x")
            # Blocks only while a connect is under way (at most its 5 s timeout).
            self._thread.join(timeout=10)
            if self._thread.is_alive():
                return  # its sockets stay open for it; they go with this object
        self._wake_read.close()
        self._wake_write.close()

    def wait_until_listening(self, timeout: float) -> bool:
        return self._listening.wait(timeout)

    def _run(self) -> None:
        delay = self._retry_seconds
        while not self._stopping.is_set():
            try:
                self._listen()
            except Exception as error:  # the thread must outlive any failure
                # Only the class: a driver message may name the host or the user.
                log.warning("revocation listener disconnected: %s", type(error).__name__)
                # Longer after each failure in a row; from the start after it listened.
                listened = self._listening.is_set()
                delay = self._retry_seconds if listened else min(delay * 2, MAX_RETRY_SECONDS)
            self._listening.clear()
            self._stopping.wait(delay)

    def _listen(self) -> None:
        conninfo = make_conninfo(
            self._conninfo,
            application_name=APPLICATION_NAME,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            # An idle listening connection shows no error until it is used.
            **KEEPALIVES,
        )
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            self._epoch.bump()  # whatever was revoked while nobody listened
            self._listening.set()
            # poll, not select: a busy server's sockets are numbered past select's 1024.
            poller = select.poll()
            poller.register(conn.fileno(), select.POLLIN)
            wake = self._wake_read.fileno()
            poller.register(wake, select.POLLIN)
            own = self._epoch.source
            while not self._stopping.is_set():
                if any(fd == wake for fd, _ in poller.poll()):
                    return
                # Reads what arrived; a connection the server closed raises here.
                payloads = [notice.payload for notice in conn.notifies(timeout=0)]
                self.notices_read += len(payloads)
                # Its own were counted at its commit; one move forgets for all the others.
                if any(payload != own for payload in payloads):
                    self._epoch.bump()
                if conn.broken or conn.closed:  # never spin on a dead socket
                    raise psycopg.OperationalError("the listening connection is gone")
