"""The world every unit test lives in: each use case wired over the in-memory fakes.

No database, no network, no adapter: only domain/, application/ and tests/fakes.py.
Tests take the `world` fixture and read as sentences:

    first = world.logged_in()
    world.rotated(first)
    world.clock.advance(11)
    with pytest.raises(RefreshTokenReused):
        world.rotated(first)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

import pytest

from application.admin import ManageUsers
from application.authenticate import Authenticate, Principal, SessionsInStore
from application.login import LogIn, LogInCommand
from application.logout import LogOut
from application.password import ChangePassword, DeleteAccount
from application.refresh import Refresh, RefreshCommand
from application.sessions import ListSessions, RevokeSession
from application.signup import PasswordRules, SignUp, SignUpCommand
from application.throttling import LimitRequests
from application.tokens import TokenPair, TokenServices
from domain.password_policy import PasswordPolicy
from domain.session import DEFAULT_CLIENT_ID, RefreshToken, Session, SessionPolicy
from domain.user import User
from tests.fakes import (
    FakeAuditLog,
    FakeClock,
    FakeCodec,
    FakePasswordHasher,
    FakeRequestThrottle,
    FakeSigner,
    FakeStrengthChecker,
    FakeThrottle,
    FakeUnitOfWorkFactory,
    SequentialIds,
    Store,
)

ACCESS_TTL = 900
IDLE_TTL = 3600
MAX_AGE = 86400
GRACE = 10

SESSION_POLICY = SessionPolicy(
    access_token_ttl=timedelta(seconds=ACCESS_TTL),
    refresh_idle_ttl=timedelta(seconds=IDLE_TTL),
    max_age=timedelta(seconds=MAX_AGE),
    reuse_grace=timedelta(seconds=GRACE),
)
PASSWORD_POLICY = PasswordPolicy(min_length=12)

EMAIL = "alice@example.com"
PASSWORD = "correct horse battery staple"
# Refreshes allowed per client IP; a command without an IP is not counted.
REFRESH_BUDGET = 3
SIGNUP_BUDGET = 3


@dataclass
class World:
    """Every use case over one shared fake store, plus the fakes to steer and inspect."""

    uow: FakeUnitOfWorkFactory
    clock: FakeClock
    ids: SequentialIds
    hasher: FakePasswordHasher
    strength: FakeStrengthChecker
    signer: FakeSigner
    codec: FakeCodec
    throttle: FakeThrottle
    audit: FakeAuditLog
    session_policy: SessionPolicy
    password_policy: PasswordPolicy

    sign_up: SignUp
    log_in: LogIn
    refresh: Refresh
    authenticate: Authenticate
    log_out: LogOut
    list_sessions: ListSessions
    revoke_session: RevokeSession
    change_password: ChangePassword
    delete_account: DeleteAccount
    manage_users: ManageUsers

    # -- steps that read well in a test -------------------------------------

    def registered(self, email: str = EMAIL, password: str = PASSWORD) -> User:
        return self.sign_up(SignUpCommand(email=email, password=password))

    def logged_in(
        self,
        email: str = EMAIL,
        password: str = PASSWORD,
        *,
        device_name: str | None = None,
        client_id: str = DEFAULT_CLIENT_ID,
        client_ip: str | None = None,
    ) -> TokenPair:
        """Log in, signing the account up first when it does not exist yet."""
        if self.user_by_email(email) is None:
            self.registered(email, password)
        return self.log_in(
            LogInCommand(
                email=email,
                password=password,
                device_name=device_name,
                client_id=client_id,
                client_ip=client_ip,
            )
        )

    def rotated(self, pair_or_token: TokenPair | str, client_id: str | None = None) -> TokenPair:
        token = pair_or_token if isinstance(pair_or_token, str) else pair_or_token.refresh_token
        return self.refresh(RefreshCommand(refresh_token=token, client_id=client_id))

    def principal(self, pair: TokenPair) -> Principal:
        return self.authenticate(pair.access_token)

    # -- what was committed ---------------------------------------------------

    @property
    def store(self) -> Store:
        return self.uow.store

    def user_by_email(self, email: str) -> User | None:
        wanted = email.strip().casefold()
        return next((u for u in self.store.users.values() if u.email.canonical == wanted), None)

    def stored_user(self, user_id: UUID) -> User:
        return self.store.users[user_id]

    def stored_session(self, session_id: UUID) -> Session:
        return self.store.sessions[session_id]

    def stored_token(self, plain: str) -> RefreshToken | None:
        digest = self.codec.digest(plain)
        return next((t for t in self.store.tokens.values() if t.token_hash == digest), None)

    def session_is_revoked(self, session_id: UUID) -> bool:
        return self.store.sessions[session_id].revoked_at is not None


def build_world(
    session_policy: SessionPolicy = SESSION_POLICY,
    password_policy: PasswordPolicy = PASSWORD_POLICY,
) -> World:
    uow = FakeUnitOfWorkFactory()
    clock = FakeClock()
    ids = SequentialIds()
    hasher = FakePasswordHasher()
    strength = FakeStrengthChecker()
    signer = FakeSigner(ttl=session_policy.access_token_ttl)
    codec = FakeCodec()
    throttle = FakeThrottle()
    audit = FakeAuditLog()
    tokens = TokenServices(signer=signer, codec=codec, clock=clock, ids=ids, policy=session_policy)
    rules = PasswordRules(policy=password_policy, strength=strength)
    return World(
        uow=uow,
        clock=clock,
        ids=ids,
        hasher=hasher,
        strength=strength,
        signer=signer,
        codec=codec,
        throttle=throttle,
        audit=audit,
        session_policy=session_policy,
        password_policy=password_policy,
        sign_up=SignUp(
            uow,
            hasher,
            rules,
            clock,
            ids,
            audit,
            LimitRequests(FakeRequestThrottle(SIGNUP_BUDGET), audit, "signup"),
        ),
        log_in=LogIn(uow, hasher, tokens, throttle, audit),
        refresh=Refresh(
            uow, tokens, audit, LimitRequests(FakeRequestThrottle(REFRESH_BUDGET), audit, "refresh")
        ),
        authenticate=Authenticate(signer, SessionsInStore(uow), clock),
        log_out=LogOut(uow, clock, audit),
        list_sessions=ListSessions(uow, clock, session_policy),
        revoke_session=RevokeSession(uow, clock, audit, session_policy),
        change_password=ChangePassword(uow, hasher, throttle, rules, clock, audit),
        delete_account=DeleteAccount(uow, hasher, throttle, audit),
        manage_users=ManageUsers(uow, clock, audit),
    )


@pytest.fixture
def world() -> World:
    return build_world()
