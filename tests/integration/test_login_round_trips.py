"""A login on PostgreSQL, besides its hash, is two statements: the user read by
email, and one statement that locks the unchanged user and inserts the session
and its first refresh token; each its own round trip, with no BEGIN or COMMIT."""

from __future__ import annotations

from functools import partial
from uuid import uuid4

from adapters.sql.migrate import upgrade
from adapters.sql.unit_of_work import SqlUnitOfWork
from application.login import LogIn, LogInCommand
from domain.user import Email, User
from tests.fakes import (
    FakeAuditLog,
    FakeClock,
    FakeCodec,
    FakePasswordHasher,
    FakeThrottle,
)
from tests.integration.round_trips import counted, fake_token_services, relayed_engine

PASSWORD = "correct horse battery staple 42"


def test_a_successful_login_on_postgresql_is_two_round_trips(
    postgres_url: str,
) -> None:
    upgrade(postgres_url)
    with relayed_engine(postgres_url) as (engine, relay):
        clock, codec, hasher = FakeClock(), FakeCodec(), FakePasswordHasher()
        user = User(
            id=uuid4(),
            email=Email("ada@example.com"),
            password_hash=hasher.hash(PASSWORD),
            created_at=clock.now(),
        )
        with SqlUnitOfWork(engine) as uow:
            uow.users.add(user)
            uow.commit()
        tokens = fake_token_services(clock, codec)
        log_in = LogIn(
            partial(SqlUnitOfWork, engine), hasher, tokens, FakeThrottle(), FakeAuditLog()
        )

        with counted(engine, relay) as sent:
            pair = log_in(LogInCommand(email="Ada@Example.com", password=PASSWORD))

        # Was four: the user by email, the user again FOR UPDATE, the session, the token.
        assert len(sent.statements) == 2, sent.statements
        # Was six: each statement had its own BEGIN, and a COMMIT or ROLLBACK.
        assert sent.round_trips == 2, sent.statements
        with SqlUnitOfWork(engine) as uow:
            found = uow.refresh_tokens.get_with_session(codec.digest(pair.refresh_token))
        assert found is not None
        token, session = found
        assert (session.id, session.user_id, token.session_id) == (
            pair.session_id,
            user.id,
            pair.session_id,
        )
