"""Counting what a use case sends to the database."""

from __future__ import annotations

import selectors
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, event, make_url

from adapters.sql.engine import make_engine
from application.tokens import TokenServices
from domain.session import SessionPolicy
from tests.fakes import FakeClock, FakeCodec, FakeSigner, SequentialIds


@dataclass
class Sent:
    statements: list[str] = field(default_factory=list)
    commits: int = 0
    round_trips: int = 0


class TurnCounter:
    """A loopback relay in front of PostgreSQL that counts round trips.

    A round trip is the client speaking after the server has answered: the
    client waits for each answer before it sends again (unless it pipelines,
    which is then rightly one round trip). This also counts the BEGIN, COMMIT
    and ROLLBACK that psycopg sends on its own, which no SQLAlchemy event sees.
    """

    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)  # closing it does not wake a blocked accept()
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self.turns = 0
        self._closing = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.setblocking(True)
            server = socket.create_connection(self._upstream)
            thread = threading.Thread(target=self._relay, args=(client, server), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _relay(self, client: socket.socket, server: socket.socket) -> None:
        answered = True  # the client speaks first
        with client, server, selectors.DefaultSelector() as sel:
            sel.register(client, selectors.EVENT_READ, server)
            sel.register(server, selectors.EVENT_READ, client)
            while not self._closing.is_set():
                for key, _ in sel.select(timeout=0.2):
                    source: socket.socket = key.fileobj  # type: ignore[assignment]
                    data = source.recv(65536)
                    if not data:
                        return
                    if source is client and answered:
                        with self._lock:
                            self.turns += 1
                    answered = source is server
                    key.data.sendall(data)

    def close(self) -> None:
        self._closing.set()
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=2)


@contextmanager
def relayed_engine(postgres_url: str) -> Iterator[tuple[Engine, TurnCounter]]:
    """An engine whose connections go through a `TurnCounter`."""
    url = make_url(postgres_url)
    relay = TurnCounter(url.host or "127.0.0.1", url.port or 5432)
    # No idle ping: one at checkout would be counted as the use case's.
    engine = make_engine(
        url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False),
        idle_ping_seconds=float("inf"),
    )
    try:
        yield engine, relay
    finally:
        engine.dispose()
        relay.close()


@contextmanager
def counted(engine: Engine, relay: TurnCounter | None = None) -> Iterator[Sent]:
    """The statements and commits sent through `engine` within the block, and
    the round trips through `relay`."""
    sent = Sent()

    def on_statement(conn: Connection, cursor: Any, statement: str, *_: Any) -> None:
        sent.statements.append(statement)

    def on_commit(conn: Connection) -> None:
        sent.commits += 1

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "commit", on_commit)
    turns_before = relay.turns if relay else 0
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "commit", on_commit)
        sent.round_trips = relay.turns - turns_before if relay else 0


def fake_token_services(clock: FakeClock, codec: FakeCodec) -> TokenServices:
    return TokenServices(
        signer=FakeSigner(), codec=codec, clock=clock, ids=SequentialIds(), policy=SessionPolicy()
    )
