"""Operator actions on accounts (the `latchkey users` CLI)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from application.ports import AuditLog, Clock, UnitOfWork, UnitOfWorkFactory
from domain.errors import ServiceUnavailable, UserNotFound
from domain.user import Email, User

# Each attempt loses only to a write that committed during it.
ATTEMPTS = 3


class ManageUsers:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, audit: AuditLog) -> None:
        self._uow = uow
        self._clock = clock
        self._audit = audit

    def disable(self, email: str) -> User:
        """Disable the account and revoke every session at once."""
        now = self._clock.now()
        with self._uow() as uow:
            user = self._changed(
                uow, email, lambda u: u if u.disabled_at else replace(u, disabled_at=now)
            )
            uow.sessions.revoke_all(user.id, now)
            uow.commit()
        self._audit.event("user_disabled", user_id=user.id)
        return user

    def enable(self, email: str) -> User:
        with self._uow() as uow:
            user = self._changed(uow, email, lambda u: replace(u, disabled_at=None))
            uow.commit()
        self._audit.event("user_enabled", user_id=user.id)
        return user

    def delete(self, email: str) -> User:
        with self._uow() as uow:
            user = self._get(uow.users.get_by_email(Email(email)))
            uow.users.delete(user.id)
            uow.commit()
        self._audit.event("user_deleted", user_id=user.id)
        return user

    def _changed(self, uow: UnitOfWork, email: str, change: Callable[[User], User]) -> User:
        """The stored user with `change` written over it; read again when
        another write (a password change) committed between the read and ours."""
        for _ in range(ATTEMPTS):
            user = self._get(uow.users.get_by_email(Email(email)))
            changed = change(user)
            if changed == user or uow.users.update(changed, was=user):
                return changed
        raise ServiceUnavailable("the account kept changing: try again")

    @staticmethod
    def _get(user: User | None) -> User:
        if user is None:
            raise UserNotFound("no such user")
        return user
