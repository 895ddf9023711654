"""A TCP relay between the service and PostgreSQL, for tests that must see or
break what crosses the wire."""

from __future__ import annotations

import selectors
import socket
import threading


class Relay:
    """A loopback relay in front of PostgreSQL that counts round trips, and
    can lose the server's next answer.

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
        self._lose_next_answer = threading.Event()
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
            try:
                server = socket.create_connection(self._upstream)
            except OSError:
                client.close()  # the client sees the failure at once
                continue
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
                    try:
                        data = source.recv(65536)
                    except OSError:  # a reset: the connection is over
                        return
                    if not data:
                        return
                    if source is client and answered:
                        with self._lock:
                            self.turns += 1
                    answered = source is server
                    if answered and self._lose_next_answer.is_set():
                        self._lose_next_answer.clear()
                        return  # both sockets close: the client sees a dropped connection
                    key.data.sendall(data)

    def lose_next_answer(self) -> None:
        """The server's next answer, on any connection, never reaches the client:
        whatever the server did (a commit) stands, and the client cannot know."""
        self._lose_next_answer.set()

    def close(self) -> None:
        self._closing.set()
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=2)
