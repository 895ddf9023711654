"""Counting what a use case sends to the database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, event

from application.tokens import TokenServices
from domain.session import SessionPolicy
from tests.fakes import FakeClock, FakeCodec, FakeSigner, SequentialIds


@dataclass
class Sent:
    statements: list[str] = field(default_factory=list)
    commits: int = 0


@contextmanager
def counted(engine: Engine) -> Iterator[Sent]:
    """The statements and commits sent through `engine` within the block."""
    sent = Sent()

    def on_statement(conn: Connection, cursor: Any, statement: str, *_: Any) -> None:
        sent.statements.append(statement)

    def on_commit(conn: Connection) -> None:
        sent.commits += 1

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "commit", on_commit)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "commit", on_commit)


def fake_token_services(clock: FakeClock, codec: FakeCodec) -> TokenServices:
    return TokenServices(
        signer=FakeSigner(), codec=codec, clock=clock, ids=SequentialIds(), policy=SessionPolicy()
    )
