"""The ports: what the use cases need from the outside world, as Protocols.

Adapters satisfy them structurally; tests use the in-memory fakes in tests/fakes.py.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self
from uuid import UUID

from domain.client import ServiceClient
from domain.session import RefreshToken, Session
from domain.signing_key import SigningKeyRecord
from domain.user import Email, Profile, User


class UserRepository(Protocol):
    def add(self, user: User) -> None:
        """Insert; raises EmailTaken when the canonical email exists."""

    def get(self, user_id: UUID) -> User | None: ...

    def profiles(self, user_ids: Collection[UUID]) -> Sequence[Profile]:
        """The profiles of the users among `user_ids`, in no particular order;
        unknown ids are left out. No password hash is read."""

    def get_by_email(self, email: Email) -> User | None: ...

    def update(self, user: User, *, was: User) -> bool:
        """Persist a changed password hash or disabled state while the stored
        user is still `was`; False, writing nothing, when it changed or is gone."""

    def delete(self, user_id: UUID) -> None:
        """Remove the user with all its sessions and refresh tokens."""


class SessionRepository(Protocol):
    def add(self, session: Session) -> None: ...

    def get(self, session_id: UUID) -> Session | None: ...

    def get_many(self, session_ids: Collection[UUID]) -> Sequence[Session]:
        """The sessions among `session_ids`, in no particular order; unknown ids are left out."""

    def list_live(self, user_id: UUID, now: datetime) -> Sequence[Session]:
        """The user's unrevoked, unexpired sessions, oldest first."""

    def touch(self, session_id: UUID, now: datetime) -> None:
        """Record use (last_used_at)."""

    def revoke(self, session_id: UUID, now: datetime) -> None:
        """Revoke one session; a no-op when it is already revoked."""

    def revoke_all(self, user_id: UUID, now: datetime, keep: UUID | None = None) -> None:
        """Revoke every live session of the user except `keep`."""

    def revoke_for_client(self, client_id: str, now: datetime) -> None:
        """Revoke every live session that the client `client_id` started."""

    def start(self, user: User, session: Session, first_token: RefreshToken) -> bool:
        """Atomic: add `session` and its `first_token` only while the stored user
        is still exactly `user`, keeping that row locked until the commit.

        Returns False, with nothing written, when the user changed (a password
        change, a disable) or is gone. Raises ValueError unless the session is a
        fresh one of `user` and the token a fresh one of the session.
        """


class RefreshTokenRepository(Protocol):
    def add(self, token: RefreshToken) -> None: ...

    def get(self, token_id: UUID) -> RefreshToken | None: ...

    def get_by_hash(self, token_hash: str) -> RefreshToken | None: ...

    def get_with_session(self, token_hash: str) -> tuple[RefreshToken, Session] | None:
        """The token and its session, read together (one round trip on a server)."""

    def rotate(
        self, token: RefreshToken, successor: RefreshToken, seal: bytes, now: datetime
    ) -> bool:
        """Atomic compare-and-set: spend `token` only if it is unspent and its
        session not revoked, naming `successor` (sealed as `seal`) as what it
        became; insert `successor`; record the use of the session at `now`.

        Returns False, with nothing written, when another request spent it
        first or revoked its session since it was read (a logout must not be
        followed by a new pair for the session it ended). Two concurrent
        callers can never both get True.
        """


class ClientRepository(Protocol):
    def add(self, client: ServiceClient) -> None: ...

    def get(self, client_id: str) -> ServiceClient | None:
        """The client of that id, deleted ones included (`is_deleted`)."""

    def list_all(self) -> Sequence[ServiceClient]:
        """Every service client not deleted, oldest first."""

    def delete(self, client_id: str, now: datetime) -> bool:
        """Mark the client deleted at `now`; its secret never matches again.
        False when there was no such client, or it was deleted already."""


class SigningKeyRepository(Protocol):
    def add(self, key: SigningKeyRecord) -> bool:
        """Insert; False, with nothing written, when the generation is taken.

        Two instances adding a key at the same moment compute the same next
        generation: exactly one of them gets True (a unique constraint decides).
        """

    def list_all(self) -> Sequence[SigningKeyRecord]: ...

    def retire_older(self, generation: int, at: datetime) -> None:
        """Retire every key of a generation below `generation` at `at`: those not
        retired yet, and those due to retire later (a rotation at once overtakes
        one published ahead)."""

    def delete(self, kid: str) -> None: ...

    def set_sealed(self, kid: str, sealed_private_key: bytes) -> None:
        """Store the key's private half sealed anew (under another key-encryption key)."""


class UnitOfWork(Protocol):
    """One transaction. Rolls back on exit unless `commit()` was called.

    Made with `autocommit=True`, each write may instead commit as it runs, and
    then nothing is rolled back: see `UnitOfWorkFactory`.
    """

    users: UserRepository
    sessions: SessionRepository
    refresh_tokens: RefreshTokenRepository
    clients: ClientRepository
    signing_keys: SigningKeyRepository

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, autocommit: bool = False) -> UnitOfWork:
        """A new unit of work.

        `autocommit=True` is for a use case that only reads, or that commits
        right after each of its writes and never needs one undone. Each write
        is then atomic on its own, so a store may skip the transaction: on
        PostgreSQL that saves the BEGIN and COMMIT round trips. A store may
        still run the unit in one transaction (SQLite does).
        """


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password: str, password_hash: str) -> bool: ...

    def needs_update(self, password_hash: str) -> bool:
        """True when the hash uses an old scheme or weaker parameters."""

    def verify_dummy(self, password: str) -> None:
        """Spend the time of a real verify; for unknown accounts (timing enumeration)."""


class PasswordStrengthChecker(Protocol):
    def weakness(self, password: str, user_inputs: Sequence[str]) -> str | None:
        """A reason the password is too guessable, or None."""


@dataclass(frozen=True)
class AccessClaims:
    """The verified claims of an access token (RFC 9068)."""

    subject: UUID
    session_id: UUID
    client_id: str
    jti: str
    issued_at: datetime
    expires_at: datetime
    issuer: str
    audience: tuple[str, ...]


class AccessTokenSigner(Protocol):
    def issue(
        self,
        *,
        user_id: UUID,
        session_id: UUID,
        client_id: str,
        now: datetime,
        not_after: datetime | None = None,
    ) -> tuple[str, datetime]:
        """A signed access token and its expiry: the configured lifetime from
        `now`, but never past `not_after` (its session's idle or absolute end)."""

    def verify(self, token: str, now: datetime) -> AccessClaims:
        """Check signature, algorithm, typ, iss, aud and times; raise InvalidToken."""


class RefreshTokenCodec(Protocol):
    """Makes opaque refresh tokens and the keyed hashes the database stores."""

    def new_token(self) -> str:
        """At least 256 bits from a CSPRNG."""

    def digest(self, token: str) -> str:
        """Keyed hash used to store and look up the token."""

    def seal(self, parent: str, successor: str) -> bytes:
        """Encrypt `successor` under a key that only `parent` yields."""

    def unseal(self, parent: str, seal: bytes) -> str: ...


class ClientSecretHasher(Protocol):
    """Secrets of service clients. They are random and high-entropy, so a keyed
    SHA-256 is enough: a slow password hash would only slow every request."""

    def new_secret(self) -> str:
        """At least 256 bits from a CSPRNG."""

    def digest(self, secret: str) -> str:
        """Keyed hash (HMAC-SHA256) that the database stores."""

    def matches(self, secret: str, digest: str) -> bool:
        """Compare in constant time."""


@dataclass(frozen=True)
class NewSigningKey:
    kid: str
    alg: str
    sealed_private_key: bytes


class SigningKeyFactory(Protocol):
    """Makes signing keys whose private half is already encrypted for storage."""

    alg: str  # the configured algorithm

    def generate(self) -> NewSigningKey:
        """A fresh key for the configured algorithm."""

    def initial(self) -> NewSigningKey:
        """The first key of a fresh install: the configured seed key, else a fresh one."""

    def resealed(self, key: SigningKeyRecord) -> bytes:
        """The stored key's private half sealed again under the current
        key-encryption key; raises when it opens under none of the configured ones."""


class LiveSessions(Protocol):
    """Answers whether an access token's session still stands."""

    def live_until(self, session_id: UUID, user_id: UUID) -> datetime | None:
        """The session's absolute expiry while it is unrevoked and `user_id`'s, else None.

        An implementation may answer from a cache, as long as revocations this
        process commits are seen at once, others as soon as it hears of them
        (adapters/sql/revocation_notices.py), and all within one second.
        """


class UserDirectory(Protocol):
    """Reads one account's profile by id; may answer from a cache, under LiveSessions' rule."""

    def get(self, user_id: UUID) -> Profile | None: ...


class ServiceClientDirectory(Protocol):
    """Reads one registered service client by id; may answer from a cache,
    under LiveSessions' rule (a removed client or a new secret counts within one second)."""

    def get(self, client_id: str) -> ServiceClient | None: ...


class Clock(Protocol):
    def now(self) -> datetime:
        """Timezone-aware UTC."""


class IdGenerator(Protocol):
    def new_id(self) -> UUID: ...


class LoginThrottle(Protocol):
    def attempt(self, keys: Sequence[str]) -> AbstractContextManager[None]:
        """Hold a place among each key's failures while the attempt within runs:
        raise TooManyRequests (holding nothing) when a key's failures in the
        window plus its attempts in flight, this one included, exceed the limit.
        A failure recorded within counts on; an attempt that ends without one
        leaves nothing. So a burst of parallel attempts cannot all pass a check
        made before any of them failed, and successes never use up the budget."""

    def reserve(self, keys: Sequence[str]) -> None:
        """Count an attempt now, atomically; raise TooManyRequests (counting
        nothing) when any key has used up its failures. Concurrent attempts
        cannot all slip past a check made before any of them failed."""

    def record_failure(self, keys: Sequence[str]) -> None: ...

    def reset(self, keys: Sequence[str]) -> None: ...


class RequestThrottle(Protocol):
    def hit(self, key: str) -> None:
        """Count one request; raise TooManyRequests once the key has used up its budget."""


class AuditLog(Protocol):
    def event(
        self,
        name: str,
        *,
        user_id: UUID | None = None,
        session_id: UUID | None = None,
        **fields: object,
    ) -> None:
        """One structured security event. Never pass a password or a token."""
