"""Counting what a use case sends to the database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, event, make_url

from adapters.sql.engine import make_engine
from application.tokens import TokenServices
from domain.session import SessionPolicy
from tests.fakes import FakeClock, FakeCodec, FakeSigner, SequentialIds
from tests.relay import Relay


@dataclass
class Sent:
    statements: list[str] = field(default_factory=list)
    commits: int = 0
    round_trips: int = 0


@contextmanager
def relayed_engine(postgres_url: str) -> Iterator[tuple[Engine, Relay]]:
    """An engine whose connections go through a `Relay` that counts round trips."""
    url = make_url(postgres_url)
    relay = Relay(url.host or "127.0.0.1", url.port or 5432)
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
def counted(engine: Engine, relay: Relay | None = None) -> Iterator[Sent]:
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
