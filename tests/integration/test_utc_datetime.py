"""The UTC column type: what the SQL adapters do with time zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

import pytest
from sqlalchemy.exc import StatementError

from application.ports import UnitOfWorkFactory
from domain.user import Email, User

PARIS_SUMMER = timezone(timedelta(hours=2))


def test_an_aware_non_utc_datetime_reads_back_as_the_same_instant_in_utc(
    sql_uow_factory: UnitOfWorkFactory,
) -> None:
    created = datetime(2026, 7, 1, 14, 0, tzinfo=PARIS_SUMMER)
    user = User(id=uuid4(), email=Email("ada@example.com"), password_hash="h", created_at=created)
    with sql_uow_factory() as uow:
        uow.users.add(user)
        uow.commit()

    with sql_uow_factory() as uow:
        read = uow.users.get(user.id)
    assert read is not None
    assert read.created_at == datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert read.created_at.tzinfo is UTC


def test_a_naive_datetime_is_refused_rather_than_guessed(
    sql_uow_factory: UnitOfWorkFactory,
) -> None:
    naive = datetime(2026, 7, 1, 12, 0)
    user = User(id=uuid4(), email=Email("ada@example.com"), password_hash="h", created_at=naive)
    with pytest.raises(StatementError, match="naive"), sql_uow_factory() as uow:
        uow.users.add(user)
