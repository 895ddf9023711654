"""Read the caller's own account."""

from __future__ import annotations

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


class GetProfile:
    def __init__(self, users: UserDirectory) -> None:
        self._users = users

    def __call__(self, principal: Principal) -> User:
        user = self._users.get(principal.user_id)
        if user is None:
            raise InvalidToken("user no longer exists")
        return user
