"""Change the password (revoking the other sessions) and delete one's own account."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NoReturn

from application.authenticate import Principal
from application.login import throttle_keys
from application.ports import (
    AuditLog,
    Clock,
    LoginThrottle,
    PasswordHasher,
    UnitOfWork,
    UnitOfWorkFactory,
)
from application.signup import PasswordRules
from domain.errors import InvalidCredentials, InvalidToken, TooManyRequests
from domain.user import User


@dataclass(frozen=True)
class ChangePasswordCommand:
    current_password: str
    new_password: str


class _NeedsPassword:
    # What the audit log calls this action's refusals.
    action = ""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        hasher: PasswordHasher,
        throttle: LoginThrottle,
        audit: AuditLog,
    ) -> None:
        self._uow = uow
        self._hasher = hasher
        self._throttle = throttle
        self._audit = audit

    def _confirmed_user(self, principal: Principal, password: str) -> User:
        with self._uow() as uow:
            user = uow.users.get(principal.user_id)
        if user is None:
            raise InvalidToken("user no longer exists")
        # The same budget as logging in: a stolen access token must not become
        # a way to guess the password without limit.
        account = throttle_keys(user.email.value, None)
        try:
            self._throttle.reserve(account)
        except TooManyRequests as refused:
            self._audit.event(
                "throttled",
                action=self.action,
                reason=refused.reason,
                user_id=user.id,
                session_id=principal.session_id,
            )
            raise
        if not self._hasher.verify(password, user.password_hash):
            # Someone holding the session guesses the password: worth a line.
            self._audit.event(
                f"{self.action}_failed", user_id=user.id, session_id=principal.session_id
            )
            raise InvalidCredentials("current password is wrong")
        self._throttle.reset(account)
        return user


class ChangePassword(_NeedsPassword):
    action = "password_change"

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        hasher: PasswordHasher,
        throttle: LoginThrottle,
        rules: PasswordRules,
        clock: Clock,
        audit: AuditLog,
    ) -> None:
        super().__init__(uow, hasher, throttle, audit)
        self._rules = rules
        self._clock = clock

    def __call__(self, principal: Principal, command: ChangePasswordCommand) -> None:
        user = self._confirmed_user(principal, command.current_password)
        self._rules.check(command.new_password, user.email)
        new_hash = self._hasher.hash(command.new_password)
        with self._uow() as uow:
            # Only over the account as it was checked: a disable, delete or
            # other password change committed since must win.
            if not uow.users.update(replace(user, password_hash=new_hash), was=user):
                _changed_meanwhile(uow, user)
            # Whoever else held a session may be the reason for the change.
            uow.sessions.revoke_all(user.id, self._clock.now(), keep=principal.session_id)
            uow.commit()
        self._audit.event("password_changed", user_id=user.id, session_id=principal.session_id)


class DeleteAccount(_NeedsPassword):
    action = "account_delete"

    def __call__(self, principal: Principal, password: str) -> None:
        user = self._confirmed_user(principal, password)
        with self._uow() as uow:
            # As for a password change: only the account as it was checked. An
            # "update" to the same values is the compare-and-set, and holds the
            # row until the delete commits. The owner changing the password
            # while a thief's delete hashed must stop that delete.
            if not uow.users.update(user, was=user):
                _changed_meanwhile(uow, user)
            uow.users.delete(user.id)
            uow.commit()
        self._audit.event("account_deleted", user_id=user.id, session_id=principal.session_id)


def _changed_meanwhile(uow: UnitOfWork, user: User) -> NoReturn:
    """Why a compare-and-set over `user`, as read before the hash, found it changed."""
    stored = uow.users.get(user.id)
    if stored is None or not stored.is_active:
        raise InvalidToken("the account was disabled or deleted meanwhile")
    # Changed elsewhere (maybe by the owner, locking out whoever knew the old
    # one): the password given is no longer current.
    raise InvalidCredentials("the password changed meanwhile")
