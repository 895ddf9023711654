"""Sign up: create an account from an email and a password."""

from __future__ import annotations

from dataclasses import dataclass

from application.ports import (
    AuditLog,
    Clock,
    IdGenerator,
    PasswordHasher,
    PasswordStrengthChecker,
    UnitOfWorkFactory,
)
from application.throttling import LimitRequests
from domain.errors import EmailTaken, PasswordPolicyViolation
from domain.password_policy import PasswordPolicy
from domain.user import Email, User


@dataclass(frozen=True)
class SignUpCommand:
    email: str
    password: str
    client_ip: str | None = None


@dataclass(frozen=True)
class PasswordRules:
    """The length policy plus a guessability check."""

    policy: PasswordPolicy
    strength: PasswordStrengthChecker

    def check(self, password: str, email: Email) -> None:
        self.policy.check(password)
        reason = self.strength.weakness(password, [email.value, email.value.split("@")[0]])
        if reason is not None:
            raise PasswordPolicyViolation(reason)


class SignUp:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        hasher: PasswordHasher,
        rules: PasswordRules,
        clock: Clock,
        ids: IdGenerator,
        audit: AuditLog,
        budget: LimitRequests,
    ) -> None:
        self._uow = uow
        self._hasher = hasher
        self._rules = rules
        self._clock = clock
        self._ids = ids
        self._audit = audit
        self._budget = budget

    def __call__(self, command: SignUpCommand) -> User:
        # The per-IP budget first: a refused attempt costs no hash and no read.
        self._budget(command.client_ip)
        email = Email.for_new_account(command.email)
        self._rules.check(command.password, email)
        with self._uow(autocommit=True) as uow:
            # Cheap early answer; the unique index still decides under a race.
            if uow.users.get_by_email(email) is not None:
                raise EmailTaken("email is already registered")
        # Hash outside any transaction: a connection is not held for the hash time.
        user = User(
            id=self._ids.new_id(),
            email=email,
            password_hash=self._hasher.hash(command.password),
            created_at=self._clock.now(),
        )
        with self._uow(autocommit=True) as uow:
            uow.users.add(user)
            uow.commit()
        self._audit.event("signup", user_id=user.id)
        return user
