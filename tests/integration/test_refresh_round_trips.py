"""A refresh is the hottest write path: on PostgreSQL, where every statement is a
network round trip, one successful rotation must stay a read and a write, with
no BEGIN or COMMIT around them."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from uuid import uuid4

from adapters.sql.migrate import upgrade
from adapters.sql.unit_of_work import SqlUnitOfWork
from application.refresh import Refresh, RefreshCommand
from application.throttling import LimitRequests
from domain.session import RefreshToken, Session
from domain.user import Email, User
from tests.fakes import (
    FakeAuditLog,
    FakeClock,
    FakeCodec,
    FakeRequestThrottle,
)
from tests.integration.round_trips import counted, fake_token_services, relayed_engine


def test_a_successful_refresh_on_postgresql_is_two_round_trips(
    postgres_url: str,
) -> None:
    upgrade(postgres_url)
    with relayed_engine(postgres_url) as (engine, relay):
        clock, codec = FakeClock(), FakeCodec()
        now = clock.now()
        user = User(id=uuid4(), email=Email("ada@example.com"), password_hash="h", created_at=now)
        session = Session(
            id=uuid4(),
            user_id=user.id,
            client_id="latchkey",
            device_name=None,
            created_at=now,
            last_used_at=now,
            expires_at=now + timedelta(days=90),
        )
        plain = codec.new_token()
        token = RefreshToken(
            id=uuid4(),
            session_id=session.id,
            token_hash=codec.digest(plain),
            issued_at=now,
            expires_at=now + timedelta(days=7),
        )
        with SqlUnitOfWork(engine) as uow:
            uow.users.add(user)
            uow.sessions.add(session)
            uow.refresh_tokens.add(token)
            uow.commit()
        tokens = fake_token_services(clock, codec)
        audit = FakeAuditLog()
        budget = LimitRequests(FakeRequestThrottle(budget=1), audit, "refresh")
        refresh = Refresh(partial(SqlUnitOfWork, engine), tokens, audit, budget)
        clock.advance(60)

        with counted(engine, relay) as sent:
            pair = refresh(RefreshCommand(refresh_token=plain))

        # Was five statements: the token, its session, the compare-and-set, the
        # successor's insert and the session's touch.
        assert len(sent.statements) <= 2, sent.statements
        # Was four: the BEGIN and COMMIT cost a round trip each.
        assert sent.round_trips == 2, sent.statements
        with SqlUnitOfWork(engine) as uow:
            spent = uow.refresh_tokens.get(token.id)
            found = uow.refresh_tokens.get_with_session(codec.digest(pair.refresh_token))
        assert found is not None
        successor, touched = found
        assert spent is not None
        assert (spent.rotated_at, spent.successor_id) == (clock.now(), successor.id)
        assert touched == session.used(clock.now())
