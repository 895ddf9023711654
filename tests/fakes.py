"""In-memory fakes of every port. The repository contract suite runs against
these too, so they cannot drift from the SQL adapters."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import secrets
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Self
from uuid import UUID

from application.ports import (
    AccessClaims,
    ClientRepository,
    NewSigningKey,
    RefreshTokenRepository,
    SessionRepository,
    SigningKeyRepository,
    UserRepository,
)
from domain.client import DELETED_SECRET_HASH, ServiceClient
from domain.errors import EmailTaken, InvalidRefreshToken, InvalidToken, TooManyRequests
from domain.session import RefreshToken, Session, check_first_token
from domain.signing_key import SigningKeyRecord
from domain.user import Email, Profile, User

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@dataclass
class Store:
    users: dict[UUID, User] = field(default_factory=dict)
    sessions: dict[UUID, Session] = field(default_factory=dict)
    tokens: dict[UUID, RefreshToken] = field(default_factory=dict)
    clients: dict[str, ServiceClient] = field(default_factory=dict)
    signing_keys: dict[str, SigningKeyRecord] = field(default_factory=dict)

    def copy(self) -> Store:
        return Store(
            dict(self.users),
            dict(self.sessions),
            dict(self.tokens),
            dict(self.clients),
            dict(self.signing_keys),
        )


class FakeUserRepository:
    def __init__(self, store: Store) -> None:
        self._s = store

    def add(self, user: User) -> None:
        if any(u.email.canonical == user.email.canonical for u in self._s.users.values()):
            raise EmailTaken("email is already registered")
        self._s.users[user.id] = user

    def get(self, user_id: UUID) -> User | None:
        return self._s.users.get(user_id)

    def profiles(self, user_ids: Collection[UUID]) -> Sequence[Profile]:
        return [self._s.users[i].profile() for i in set(user_ids) if i in self._s.users]

    def get_by_email(self, email: Email) -> User | None:
        return next(
            (u for u in self._s.users.values() if u.email.canonical == email.canonical), None
        )

    def update(self, user: User, *, was: User) -> bool:
        if user.id != was.id:
            raise ValueError("a user's update must be of the same user")
        stored = self._s.users.get(user.id)
        if stored != was:
            return False
        # Only the mutable fields, as the SQL adapter writes them.
        self._s.users[user.id] = replace(
            was, password_hash=user.password_hash, disabled_at=user.disabled_at
        )
        return True

    def delete(self, user_id: UUID) -> None:
        self._s.users.pop(user_id, None)
        gone = {sid for sid, s in self._s.sessions.items() if s.user_id == user_id}
        for sid in gone:
            del self._s.sessions[sid]
        for tid in [t.id for t in self._s.tokens.values() if t.session_id in gone]:
            del self._s.tokens[tid]


class FakeSessionRepository:
    def __init__(self, store: Store) -> None:
        self._s = store

    def add(self, session: Session) -> None:
        self._s.sessions[session.id] = session

    def get(self, session_id: UUID) -> Session | None:
        return self._s.sessions.get(session_id)

    def get_many(self, session_ids: Collection[UUID]) -> Sequence[Session]:
        return [self._s.sessions[i] for i in set(session_ids) if i in self._s.sessions]

    def list_live(self, user_id: UUID, now: datetime) -> Sequence[Session]:
        live = [s for s in self._s.sessions.values() if s.user_id == user_id and s.is_live(now)]
        return sorted(live, key=lambda s: s.created_at)

    def touch(self, session_id: UUID, now: datetime) -> None:
        if session_id in self._s.sessions:
            self._s.sessions[session_id] = self._s.sessions[session_id].used(now)

    def revoke(self, session_id: UUID, now: datetime) -> None:
        session = self._s.sessions.get(session_id)
        if session is not None and session.revoked_at is None:
            self._s.sessions[session_id] = replace(session, revoked_at=now)

    def revoke_all(self, user_id: UUID, now: datetime, keep: UUID | None = None) -> None:
        for session in list(self._s.sessions.values()):
            if session.user_id == user_id and session.id != keep:
                self.revoke(session.id, now)

    def revoke_for_client(self, client_id: str, now: datetime) -> None:
        for session in list(self._s.sessions.values()):
            if session.client_id == client_id:
                self.revoke(session.id, now)

    def start(self, user: User, session: Session, first_token: RefreshToken) -> bool:
        check_first_token(user.id, session, first_token)
        if self._s.users.get(user.id) != user:
            return False
        self._s.sessions[session.id] = session
        self._s.tokens[first_token.id] = first_token
        return True


class FakeRefreshTokenRepository:
    def __init__(self, store: Store) -> None:
        self._s = store

    def add(self, token: RefreshToken) -> None:
        self._s.tokens[token.id] = token

    def get(self, token_id: UUID) -> RefreshToken | None:
        return self._s.tokens.get(token_id)

    def get_by_hash(self, token_hash: str) -> RefreshToken | None:
        return next((t for t in self._s.tokens.values() if t.token_hash == token_hash), None)

    def get_with_session(self, token_hash: str) -> tuple[RefreshToken, Session] | None:
        token = self.get_by_hash(token_hash)
        session = self._s.sessions.get(token.session_id) if token is not None else None
        if token is None or session is None:
            return None
        return token, session

    def rotate(
        self, token: RefreshToken, successor: RefreshToken, seal: bytes, now: datetime
    ) -> bool:
        # The stored token decides, not the caller's copy, which may be stale.
        stored = self._s.tokens.get(token.id)
        session = self._s.sessions.get(token.session_id)
        if stored is None or stored.rotated_at is not None:
            return False
        if session is None or session.revoked_at is not None:
            return False
        self._s.tokens[token.id] = replace(
            stored, rotated_at=now, successor_id=successor.id, successor_seal=seal
        )
        self._s.tokens[successor.id] = successor
        self._s.sessions[session.id] = session.used(now)
        return True


class FakeClientRepository:
    def __init__(self, store: Store) -> None:
        self._s = store

    def add(self, client: ServiceClient) -> None:
        self._s.clients[client.id] = client

    def get(self, client_id: str) -> ServiceClient | None:
        return self._s.clients.get(client_id)

    def list_all(self) -> Sequence[ServiceClient]:
        live = [c for c in self._s.clients.values() if not c.is_deleted]
        return sorted(live, key=lambda c: (c.created_at, c.id))

    def delete(self, client_id: str, now: datetime) -> bool:
        client = self._s.clients.get(client_id)
        if client is None or client.is_deleted:
            return False
        self._s.clients[client_id] = replace(
            client, deleted_at=now, secret_hash=DELETED_SECRET_HASH
        )
        return True


class FakeSigningKeyRepository:
    def __init__(self, store: Store) -> None:
        self._s = store

    def add(self, key: SigningKeyRecord) -> bool:
        taken = key.kid in self._s.signing_keys or any(
            k.generation == key.generation for k in self._s.signing_keys.values()
        )
        if not taken:
            self._s.signing_keys[key.kid] = key
        return not taken

    def list_all(self) -> Sequence[SigningKeyRecord]:
        return sorted(self._s.signing_keys.values(), key=lambda k: k.generation)

    def retire_older(self, generation: int, at: datetime) -> None:
        for key in list(self._s.signing_keys.values()):
            if key.generation < generation and (key.retired_at is None or key.retired_at > at):
                self._s.signing_keys[key.kid] = replace(key, retired_at=at)

    def delete(self, kid: str) -> None:
        self._s.signing_keys.pop(kid, None)

    def set_sealed(self, kid: str, sealed_private_key: bytes) -> None:
        key = self._s.signing_keys.get(kid)
        if key is not None:
            self._s.signing_keys[kid] = replace(key, sealed_private_key=sealed_private_key)


class FakeUnitOfWork:
    """Works on a private copy of the store; commit publishes it.

    With `autocommit`, works on the store itself: each write is seen at once
    and nothing is rolled back, the most a real store may do in that mode.
    """

    # Typed as the ports so that the fake satisfies the UnitOfWork protocol (mypy).
    users: UserRepository
    sessions: SessionRepository
    refresh_tokens: RefreshTokenRepository
    clients: ClientRepository
    signing_keys: SigningKeyRepository

    def __init__(self, store: Store, *, autocommit: bool = False) -> None:
        self._shared = store
        self.autocommit = autocommit
        self.committed = False

    def __enter__(self) -> Self:
        self._begin()
        return self

    def _begin(self) -> None:
        self._work = self._shared if self.autocommit else self._shared.copy()
        self.users = FakeUserRepository(self._work)
        self.sessions = FakeSessionRepository(self._work)
        self.refresh_tokens = FakeRefreshTokenRepository(self._work)
        self.clients = FakeClientRepository(self._work)
        self.signing_keys = FakeSigningKeyRepository(self._work)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()

    def commit(self) -> None:
        self._shared.users = dict(self._work.users)
        self._shared.sessions = dict(self._work.sessions)
        self._shared.tokens = dict(self._work.tokens)
        self._shared.clients = dict(self._work.clients)
        self._shared.signing_keys = dict(self._work.signing_keys)
        self.committed = True
        self._begin()

    def rollback(self) -> None:
        self._begin()


class FakeUnitOfWorkFactory:
    def __init__(self) -> None:
        self.store = Store()
        self.made: list[FakeUnitOfWork] = []
        # False: every unit is one transaction, autocommit or not, as SQLite's
        # are; a use case must commit what it keeps on either kind.
        self.honours_autocommit = True

    def __call__(self, *, autocommit: bool = False) -> FakeUnitOfWork:
        uow = FakeUnitOfWork(self.store, autocommit=autocommit and self.honours_autocommit)
        self.made.append(uow)
        return uow


class FakeClock:
    def __init__(self, now: datetime = T0) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


class SequentialIds:
    def __init__(self) -> None:
        self._n = itertools.count(1)

    def new_id(self) -> UUID:
        return UUID(int=next(self._n))


class FakePasswordHasher:
    """Hashes are 'fake$<sha256>'; 'old$<sha256>' stands for an outdated scheme."""

    def __init__(self) -> None:
        self.dummy_verifies = 0
        # Runs while a password is being verified: what a parallel request sees then.
        self.during_verify: Callable[[], None] | None = None

    def hash(self, password: str) -> str:
        return "fake$" + hashlib.sha256(password.encode()).hexdigest()

    def verify(self, password: str, password_hash: str) -> bool:
        self._meanwhile()
        _, _, digest = password_hash.partition("$")
        return digest == hashlib.sha256(password.encode()).hexdigest()

    def needs_update(self, password_hash: str) -> bool:
        return not password_hash.startswith("fake$")

    def verify_dummy(self, password: str) -> None:
        self._meanwhile()
        self.dummy_verifies += 1

    def _meanwhile(self) -> None:
        hook, self.during_verify = self.during_verify, None  # once: it may log in itself
        if hook is not None:
            hook()


class FakeStrengthChecker:
    def __init__(self, weak: Sequence[str] = ("password1234",)) -> None:
        self.weak = set(weak)

    def weakness(self, password: str, user_inputs: Sequence[str]) -> str | None:
        if password in self.weak or any(password == i for i in user_inputs):
            return "password is too common"
        return None


class FakeSigner:
    """Tokens are random strings mapped to their claims."""

    def __init__(self, ttl: timedelta = timedelta(seconds=900)) -> None:
        self.ttl = ttl
        self.issued: dict[str, AccessClaims] = {}

    def issue(
        self,
        *,
        user_id: UUID,
        session_id: UUID,
        client_id: str,
        now: datetime,
        not_after: datetime | None = None,
    ) -> tuple[str, datetime]:
        token = "at." + secrets.token_hex(8)
        expires_at = min(now + self.ttl, not_after) if not_after else now + self.ttl
        self.issued[token] = AccessClaims(
            subject=user_id,
            session_id=session_id,
            client_id=client_id,
            jti=token,
            issued_at=now,
            expires_at=expires_at,
            issuer="test",
            audience=("latchkey",),
        )
        return token, expires_at

    def verify(self, token: str, now: datetime) -> AccessClaims:
        claims = self.issued.get(token)
        if claims is None or now > claims.expires_at:
            raise InvalidToken("bad token")
        return claims


class FakeCodec:
    def new_token(self) -> str:
        return secrets.token_urlsafe(32)

    def digest(self, token: str) -> str:
        return hashlib.sha256(b"key" + token.encode()).hexdigest()

    def seal(self, parent: str, successor: str) -> bytes:
        return f"{self.digest(parent)}|{successor}".encode()

    def unseal(self, parent: str, seal: bytes) -> str:
        owner, _, successor = seal.decode().partition("|")
        if owner != self.digest(parent):
            raise InvalidRefreshToken("seal does not open")
        return successor


class FakeThrottle:
    def __init__(self, max_failures: int = 3) -> None:
        self.max_failures = max_failures
        self.failures: dict[str, int] = {}
        self.in_flight: dict[str, int] = {}
        self.journal: list[str] = []

    @contextmanager
    def attempt(self, keys: Sequence[str]) -> Iterator[None]:
        """As the adapter: failures and attempts in flight, this one included;
        a wait of 1 s when only attempts in flight fill the limit."""
        waits = [
            (60, "failures") if self.failures.get(k, 0) >= self.max_failures else (1, "in_flight")
            for k in keys
            if self.failures.get(k, 0) + self.in_flight.get(k, 0) + 1 > self.max_failures
        ]
        if waits:
            seconds, reason = max(waits)
            raise TooManyRequests(retry_after=seconds, reason=reason)
        for key in keys:
            self.in_flight[key] = self.in_flight.get(key, 0) + 1
            self.journal.append(f"enter {key}")
        try:
            yield
        finally:
            for key in keys:
                self.in_flight[key] -= 1
                self.journal.append(f"leave {key}")

    def reserve(self, keys: Sequence[str]) -> None:
        """As the adapter's moving window: an attempt counted now, atomically."""
        if any(self.failures.get(k, 0) + 1 > self.max_failures for k in keys):
            raise TooManyRequests(retry_after=60, reason="failures")
        self.record_failure(keys)

    def record_failure(self, keys: Sequence[str]) -> None:
        for key in keys:
            self.failures[key] = self.failures.get(key, 0) + 1
            self.journal.append(f"failure {key}")

    def reset(self, keys: Sequence[str]) -> None:
        for key in keys:
            self.failures.pop(key, None)


class FakeRequestThrottle:
    """Allows `budget` hits per key."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.hits: dict[str, int] = {}

    def hit(self, key: str) -> None:
        if self.hits.get(key, 0) >= self.budget:
            raise TooManyRequests(retry_after=30)
        self.hits[key] = self.hits.get(key, 0) + 1


@dataclass
class FakeAuditLog:
    events: list[dict[str, object]] = field(default_factory=list)

    def event(
        self,
        name: str,
        *,
        user_id: UUID | None = None,
        session_id: UUID | None = None,
        **fields: object,
    ) -> None:
        self.events.append({"event": name, "user_id": user_id, "session_id": session_id, **fields})

    def names(self) -> list[str]:
        return [str(e["event"]) for e in self.events]


class FakeClientSecrets:
    """Secrets are random; digests are a keyed SHA-256 as in the real adapter."""

    def new_secret(self) -> str:
        return secrets.token_urlsafe(32)

    def digest(self, secret: str) -> str:
        return hashlib.sha256(b"client-key" + secret.encode()).hexdigest()

    def matches(self, secret: str, digest: str) -> bool:
        return hmac.compare_digest(self.digest(secret), digest)


class FakeKeyFactory:
    """Keys are numbered strings; `sealed_private_key` says which key it would hold."""

    def __init__(self, alg: str = "ES256", seed_kid: str | None = None) -> None:
        self.alg = alg
        self.seed_kid = seed_kid
        self._n = itertools.count(1)

    def generate(self) -> NewSigningKey:
        kid = f"key-{next(self._n)}"
        return NewSigningKey(kid=kid, alg=self.alg, sealed_private_key=f"sealed {kid}".encode())

    def resealed(self, key: SigningKeyRecord) -> bytes:
        return b"resealed " + key.sealed_private_key

    def initial(self) -> NewSigningKey:
        if self.seed_kid is None:
            return self.generate()
        kid = self.seed_kid
        return NewSigningKey(kid=kid, alg=self.alg, sealed_private_key=f"sealed {kid}".encode())
