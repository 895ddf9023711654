"""Operator actions on accounts (the `latchkey users` CLI)."""

from __future__ import annotations

from dataclasses import replace

from application.ports import AuditLog, Clock, UnitOfWorkFactory
from domain.errors import UserNotFound
from domain.user import Email, User


class ManageUsers:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, audit: AuditLog) -> None:
        self._uow = uow
        self._clock = clock
        self._audit = audit

    def disable(self, email: str) -> User:
        """Disable the account and revoke every session at once."""
        now = self._clock.now()
        with self._uow() as uow:
            user = self._get(uow.users.get_by_email(Email(email)))
            if user.disabled_at is None:
                user = replace(user, disabled_at=now)
                uow.users.update(user)
            uow.sessions.revoke_all(user.id, now)
            uow.commit()
        self._audit.event("user_disabled", user_id=user.id)
        return user

    def enable(self, email: str) -> User:
        with self._uow() as uow:
            user = replace(self._get(uow.users.get_by_email(Email(email))), disabled_at=None)
            uow.users.update(user)
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

    @staticmethod
    def _get(user: User | None) -> User:
        if user is None:
            raise UserNotFound("no such user")
        return user
