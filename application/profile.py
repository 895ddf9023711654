"""Read the caller's own account."""

from __future__ import annotations

from collections.abc import Collection
from uuid import UUID

from application.authenticate import Principal
from application.ports import UnitOfWorkFactory, UserDirectory
from domain.errors import InvalidToken
from domain.user import Profile


class UsersInStore:
    """UserDirectory read straight from the store, every time."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    def get(self, user_id: UUID) -> Profile | None:
        # One read path: the cache in front calls get_many.
        return self.get_many([user_id])[user_id]

    def get_many(self, user_ids: Collection[UUID]) -> dict[UUID, Profile | None]:
        """Each id's profile (None when unknown), read in one query."""
        with self._uow(autocommit=True) as uow:
            found = {p.id: p for p in uow.users.profiles(user_ids)}
        return {i: found.get(i) for i in user_ids}


class GetProfile:
    def __init__(self, users: UserDirectory) -> None:
        self._users = users

    def __call__(self, principal: Principal) -> Profile:
        profile = self._users.get(principal.user_id)
        if profile is None:
            raise InvalidToken("user no longer exists")
        return profile
