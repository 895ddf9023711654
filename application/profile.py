"""Read the caller's own account."""

from __future__ import annotations

from application.authenticate import Principal
from application.ports import UnitOfWorkFactory
from domain.errors import InvalidToken
from domain.user import User


class GetProfile:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    def __call__(self, principal: Principal) -> User:
        with self._uow() as uow:
            user = uow.users.get(principal.user_id)
        if user is None:
            raise InvalidToken("user no longer exists")
        return user
