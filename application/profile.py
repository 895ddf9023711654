"""Read the caller's own account."""

from __future__ import annotations

from collections.abc import Collection
from uuid import UUID

from application.authenticate import Principal
from application.ports import UnitOfWorkFactory, UserDirectory
from domain.errors import InvalidToken
from domain.user import User


class UsersInStore:
    """UserDirectory read straight from the store, every time."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    def get(self, user_id: UUID) -> User | None:
        with self._uow() as uow:
            return uow.users.get(user_id)

    def get_many(self, user_ids: Collection[UUID]) -> dict[UUID, User | None]:
        """Each id's user (None when unknown), read in one query."""
        with self._uow() as uow:
            found = {u.id: u for u in uow.users.get_many(user_ids)}
        return {i: found.get(i) for i in user_ids}


class GetProfile:
    def __init__(self, users: UserDirectory) -> None:
        self._users = users

    def __call__(self, principal: Principal) -> User:
        user = self._users.get(principal.user_id)
        if user is None:
            raise InvalidToken("user no longer exists")
        return user
