"""The profiles that `/v1/users/me` caches are read without the password hash:
it is neither kept (domain.user.Profile has none) nor fetched."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from adapters.sql.engine import make_engine
from adapters.sql.migrate import upgrade
from adapters.sql.unit_of_work import SqlUnitOfWork
from domain.user import Email, User
from tests.integration.round_trips import counted


def test_reading_profiles_fetches_no_password_hash(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    ada = User(
        id=uuid4(),
        email=Email("ada@example.com"),
        password_hash="$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
        created_at=datetime(2026, 3, 1, tzinfo=UTC),
    )
    try:
        with SqlUnitOfWork(engine) as uow:
            uow.users.add(ada)
            uow.commit()
        with counted(engine) as sent, SqlUnitOfWork(engine, autocommit=True) as uow:
            assert list(uow.users.profiles([ada.id])) == [ada.profile()]
    finally:
        engine.dispose()
    reads = [s for s in sent.statements if s.startswith("SELECT")]
    assert len(reads) == 1
    assert "password_hash" not in reads[0]
