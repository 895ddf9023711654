"""Refresh-token rotation under real concurrency: the compare-and-set must let
exactly one of many simultaneous requests spend a token."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from application.ports import UnitOfWorkFactory
from domain.session import RefreshToken, Session
from domain.user import Email, User

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
NOW = T0 + timedelta(minutes=1)
THREADS = 8


def _seed(factory: UnitOfWorkFactory) -> RefreshToken:
    user = User(id=uuid4(), email=Email("ada@example.com"), password_hash="h", created_at=T0)
    session = Session(
        id=uuid4(),
        user_id=user.id,
        client_id="latchkey",
        device_name=None,
        created_at=T0,
        last_used_at=T0,
        expires_at=T0 + timedelta(days=90),
    )
    token = RefreshToken(
        id=uuid4(),
        session_id=session.id,
        token_hash=uuid4().hex,
        issued_at=T0,
        expires_at=T0 + timedelta(days=7),
    )
    with factory() as uow:
        uow.users.add(user)
        uow.sessions.add(session)
        uow.refresh_tokens.add(token)
        uow.commit()
    return token


def test_exactly_one_of_many_concurrent_rotations_wins(
    sql_uow_factory: UnitOfWorkFactory,
) -> None:
    token = _seed(sql_uow_factory)
    start = threading.Barrier(THREADS, timeout=10)

    def rotate(successor: RefreshToken) -> bool:
        # Released together, before opening the unit of work: on SQLite the
        # first BEGIN IMMEDIATE holds the others at the door.
        start.wait()
        with sql_uow_factory() as uow:
            seen = uow.refresh_tokens.get_with_session(token.token_hash)
            assert seen is not None
            won = uow.refresh_tokens.rotate(seen[0], successor, successor.id.bytes, NOW)
            uow.commit()
            return won

    successors = [replace(token, id=uuid4(), token_hash=uuid4().hex) for _ in range(THREADS)]
    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(rotate, successors))

    assert results.count(True) == 1
    winner = successors[results.index(True)]
    with sql_uow_factory() as uow:
        spent = uow.refresh_tokens.get(token.id)
        # The losers inserted no successor of their own.
        stored = [uow.refresh_tokens.get(successor.id) for successor in successors]
    assert spent is not None
    assert spent.successor_id == winner.id
    assert spent.successor_seal == winner.id.bytes
    assert stored == [s if s is winner else None for s in successors]


def test_a_successor_that_is_not_fresh_is_refused_and_nothing_is_written(
    sql_uow_factory: UnitOfWorkFactory,
) -> None:
    # The SQL rotation inserts only a fresh token's columns (adapters/sql/repositories.py).
    token = _seed(sql_uow_factory)
    spent_already = replace(token, id=uuid4(), token_hash=uuid4().hex, rotated_at=NOW)

    with sql_uow_factory() as uow, pytest.raises(ValueError, match="fresh"):
        uow.refresh_tokens.rotate(token, spent_already, b"seal", NOW)

    with sql_uow_factory() as uow:
        assert uow.refresh_tokens.get(token.id) == token
        assert uow.refresh_tokens.get(spent_already.id) is None
