"""Log in: check an email and password, start a session, hand out a token pair."""

from __future__ import annotations

from dataclasses import dataclass, replace

from application.ports import AuditLog, LoginThrottle, PasswordHasher, UnitOfWorkFactory
from application.tokens import TokenPair, TokenServices
from domain.errors import InvalidCredentials, InvalidEmail, TooManyRequests
from domain.session import DEFAULT_CLIENT_ID, check_device_name, start_session
from domain.user import Email, User


@dataclass(frozen=True)
class LogInCommand:
    email: str
    password: str
    device_name: str | None = None
    client_id: str = DEFAULT_CLIENT_ID
    client_ip: str | None = None


def throttle_keys(email: str, client_ip: str | None) -> list[str]:
    # Every spelling of one address counts against one account: the counter
    # is keyed as accounts are found (Email.canonical).
    try:
        account = Email(email).canonical
    except InvalidEmail:
        account = email.strip().casefold()
    keys = [f"login:account:{account}"]
    if client_ip:
        keys.append(f"login:ip:{client_ip}")
    return keys


class LogIn:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        hasher: PasswordHasher,
        tokens: TokenServices,
        throttle: LoginThrottle,
        audit: AuditLog,
    ) -> None:
        self._uow = uow
        self._hasher = hasher
        self._tokens = tokens
        self._throttle = throttle
        self._audit = audit

    def __call__(self, command: LogInCommand) -> TokenPair:
        # Refused before the password is looked at: an answer after it would
        # tell the caller whether the password was right.
        check_device_name(command.device_name)
        keys = throttle_keys(command.email, command.client_ip)
        account, by_ip = keys[:1], keys[1:]
        try:
            # The IP's place is held until the password is decided and a failure
            # counted: parallel guesses over many accounts see each other, and a
            # success frees it before its session is written.
            with self._throttle.attempt(by_ip):
                # The account's attempt is counted before the password is checked,
                # so a burst of parallel guesses gets no more than the allowed
                # number. A success clears it; the IP's counter only ever counts
                # failures, so that many people behind one address can log in.
                self._throttle.reserve(account)
                user = self._verified(command, account, by_ip)
        except TooManyRequests as refused:
            self._audit.event("throttled", action="login", reason=refused.reason)
            raise
        return self._start_session(user, command)

    def _verified(self, command: LogInCommand, account: list[str], by_ip: list[str]) -> User:
        user = self._find(command.email)
        if user is None:
            # Verify a dummy hash so an unknown email costs as much as a wrong
            # password: response time must not reveal which accounts exist.
            self._hasher.verify_dummy(command.password)
        elif self._hasher.verify(command.password, user.password_hash) and user.is_active:
            # Only the account counter is cleared: an IP stuffing many accounts stays counted.
            self._throttle.reset(account)
            return user
        self._throttle.record_failure(by_ip)
        # The user id (when the account exists) shows which account is under attack.
        self._audit.event("login_failed", user_id=user.id if user else None)
        raise InvalidCredentials("invalid email or password")

    def _find(self, email: str) -> User | None:
        try:
            valid = Email(email)
        except InvalidEmail:
            return None
        with self._uow(autocommit=True) as uow:
            return uow.users.get_by_email(valid)

    def _start_session(self, user: User, command: LogInCommand) -> TokenPair:
        new_hash = None
        if self._hasher.needs_update(user.password_hash):
            new_hash = self._hasher.hash(command.password)
        now = self._tokens.clock.now()
        session = start_session(
            session_id=self._tokens.ids.new_id(),
            user_id=user.id,
            client_id=command.client_id,
            device_name=command.device_name,
            now=now,
            policy=self._tokens.policy,
        )
        plain, refresh = self._tokens.new_refresh_token(session, now)
        # A rehash is a second write that must commit with the session.
        with self._uow(autocommit=new_hash is None) as uow:
            # The password was checked before this unit began; a password
            # change, disable or delete committed since must win, or the new
            # session would outlive the revocation that came with it.
            if not uow.sessions.start(user, session, refresh):
                raise InvalidCredentials("account changed during login")
            # The user's row stays locked by `start` until the commit.
            if new_hash is not None and not uow.users.update(
                replace(user, password_hash=new_hash), was=user
            ):
                raise InvalidCredentials("account changed during login")
            uow.commit()
        self._audit.event("login", user_id=user.id, session_id=session.id)
        return self._tokens.pair(session, plain, refresh, now)
