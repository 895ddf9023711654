"""A login racing a change of its account on PostgreSQL: while a password change,
a disable or a delete holds the user's row, the statement that starts the
login's session waits for it, then writes nothing once it has committed."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from adapters.sql.engine import make_engine
from adapters.sql.migrate import upgrade
from adapters.sql.unit_of_work import SqlUnitOfWork
from tests.integration.test_repository_contract import a_session, a_token, a_user
from tests.pg import waiting_on_a_lock

CHANGES = {
    "password changed": "UPDATE users SET password_hash = 'new' WHERE id = :id",
    "disabled": "UPDATE users SET disabled_at = now() WHERE id = :id",
    "deleted": "DELETE FROM users WHERE id = :id",
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_login_waiting_on_an_account_change_starts_no_session(
    postgres_url: str, change: str
) -> None:
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    try:
        user = a_user()
        with SqlUnitOfWork(engine) as uow:
            uow.users.add(user)
            uow.commit()
        session = a_session(user)
        first = a_token(session)

        def log_in() -> bool:
            with SqlUnitOfWork(engine) as uow:
                started = uow.sessions.start(user, session, first)
                uow.commit()
            return started

        with engine.connect() as changing, ThreadPoolExecutor(max_workers=1) as pool:
            # Uncommitted: the row stays locked.
            changing.execute(text(CHANGES[change]), {"id": user.id})
            login = pool.submit(log_in)
            waiting_on_a_lock(engine)
            changing.commit()
            assert login.result(timeout=10) is False

        with SqlUnitOfWork(engine) as uow:
            assert uow.sessions.get(session.id) is None
            assert uow.refresh_tokens.get(first.id) is None
    finally:
        engine.dispose()
