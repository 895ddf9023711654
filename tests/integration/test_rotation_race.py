"""Row locks on PostgreSQL. A refresh racing a revocation of its session: while
a logout holds the session's row, the rotation waits for it, then spends
nothing once the logout has committed (SECURITY.md 5: refused at once, even
mid-flight). And two deletions of one account at once: both lock the user
first, so neither waits for the other in a cycle."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import text

from adapters.sql.engine import make_engine
from adapters.sql.migrate import upgrade
from adapters.sql.unit_of_work import SqlUnitOfWork
from tests.integration.test_repository_contract import T0, a_session, a_token, a_user
from tests.pg import waiting_on_a_lock

REVOCATIONS = {
    "logged out": "UPDATE sessions SET revoked_at = now() WHERE id = :id",
    "deleted": "DELETE FROM sessions WHERE id = :id",
}


@pytest.mark.parametrize("revocation", list(REVOCATIONS))
def test_a_rotation_waiting_on_a_revocation_spends_nothing(
    postgres_url: str, revocation: str
) -> None:
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    try:
        user = a_user()
        session = a_session(user)
        token = a_token(session)
        with SqlUnitOfWork(engine) as uow:
            uow.users.add(user)
            uow.sessions.add(session)
            uow.refresh_tokens.add(token)
            uow.commit()
        now = T0 + timedelta(minutes=1)
        successor = a_token(session, issued_at=now, expires_at=now + timedelta(days=7))

        def rotate() -> bool:
            with SqlUnitOfWork(engine) as uow:
                rotated = uow.refresh_tokens.rotate(token, successor, b"seal", now)
                uow.commit()
            return rotated

        with engine.connect() as revoking, ThreadPoolExecutor(max_workers=1) as pool:
            # A deleted session takes its tokens with it, as deleting an account
            # does: the token is gone whatever the rotation checks, so this case
            # guards the waiting (no error, no deadlock), not the revoked check.
            if revocation == "deleted":
                revoking.execute(
                    text("DELETE FROM refresh_tokens WHERE session_id = :id"), {"id": session.id}
                )
            # Uncommitted: the row stays locked.
            revoking.execute(text(REVOCATIONS[revocation]), {"id": session.id})
            rotation = pool.submit(rotate)
            waiting_on_a_lock(engine)
            revoking.commit()
            assert rotation.result(timeout=10) is False

        with SqlUnitOfWork(engine) as uow:
            assert uow.refresh_tokens.get(successor.id) is None
    finally:
        engine.dispose()


def test_an_account_deleted_twice_at_once_does_not_deadlock(postgres_url: str) -> None:
    # The owner's deletion holds the user's row (its compare-and-set) while an
    # operator's `users delete` starts: both must lock the user first, then
    # its sessions, or each waits for the other (DeadlockDetected, a 503).
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    try:
        user = a_user()
        session = a_session(user)
        with SqlUnitOfWork(engine) as uow:
            uow.users.add(user)
            uow.sessions.add(session)
            uow.refresh_tokens.add(a_token(session))
            uow.commit()

        def operator_deletes() -> None:
            with SqlUnitOfWork(engine) as uow:
                uow.users.delete(user.id)
                uow.commit()

        with SqlUnitOfWork(engine) as owner, ThreadPoolExecutor(max_workers=1) as pool:
            assert owner.users.update(user, was=user)  # the row is the owner's now
            operator = pool.submit(operator_deletes)
            waiting_on_a_lock(engine)
            owner.users.delete(user.id)
            owner.commit()
            operator.result(timeout=10)

        with SqlUnitOfWork(engine) as uow:
            assert uow.users.get(user.id) is None
            assert uow.sessions.get(session.id) is None
    finally:
        engine.dispose()
