"""Sessions and refresh tokens: the rules of rotation, reuse, expiry and revocation.

A session is one device's login. Its refresh tokens form a chain: each refresh
spends the presented token and issues its successor. A spent token presented
again is either a harmless retry (within the grace window, while the successor
is unused: the same successor is handed back) or a replay of a stolen token
(anything else: the whole session dies).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from uuid import UUID

from domain.errors import InvalidInput, InvalidRefreshToken
from domain.text import has_control_character, without_control_characters

DEFAULT_CLIENT_ID = "latchkey"
MAX_DEVICE_NAME_LENGTH = 255


@dataclass(frozen=True)
class SessionPolicy:
    access_token_ttl: timedelta = timedelta(seconds=900)
    refresh_idle_ttl: timedelta = timedelta(seconds=604800)
    max_age: timedelta = timedelta(seconds=7776000)
    reuse_grace: timedelta = timedelta(seconds=10)


@dataclass(frozen=True)
class Session:
    id: UUID
    user_id: UUID
    client_id: str
    device_name: str | None
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None

    def is_live(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at

    def is_usable(self, now: datetime, policy: SessionPolicy) -> bool:
        """Live and not idle past the refresh lifetime: its owner can still refresh it."""
        return self.is_live(now) and now < self.last_used_at + policy.refresh_idle_ttl

    def used(self, now: datetime) -> Session:
        return replace(self, last_used_at=now)


@dataclass(frozen=True)
class RefreshToken:
    """One link of a session's chain. Only a keyed hash of the token is ever kept.

    `successor_seal` is the successor token encrypted under a key derived from
    this token, so that a retry within the grace window can be answered with
    the same successor while a database leak reveals no usable token.
    """

    id: UUID
    session_id: UUID
    token_hash: str
    issued_at: datetime
    expires_at: datetime
    rotated_at: datetime | None = None
    successor_id: UUID | None = None
    successor_seal: bytes | None = None

    @property
    def is_spent(self) -> bool:
        return self.rotated_at is not None

    @property
    def is_fresh(self) -> bool:
        """Never rotated: no spend time, no successor, no seal."""
        return self.rotated_at is None and self.successor_id is None and self.successor_seal is None


def check_first_token(user_id: UUID, session: Session, token: RefreshToken) -> None:
    """A session being started is the user's, unrevoked, with a fresh token of its own."""
    if (
        session.user_id != user_id
        or session.revoked_at is not None
        or token.session_id != session.id
        or not token.is_fresh
    ):
        raise ValueError("a started session and its first token must be fresh and belong together")


def is_device_name(name: str) -> bool:
    """A label people read in their list of sessions, as the column holds it."""
    return len(name) <= MAX_DEVICE_NAME_LENGTH and not has_control_character(name)


def check_device_name(name: str | None) -> str | None:
    if name is not None and not is_device_name(name):
        raise InvalidInput(
            f"device_name must be at most {MAX_DEVICE_NAME_LENGTH} characters"
            " without control characters"
        )
    return name


def device_name_from_agent(user_agent: str | None) -> str | None:
    """A session's name when the client gave none: what its User-Agent says,
    made a name (a header may carry a tab or C1 bytes) rather than refused."""
    name = without_control_characters(user_agent or "")[:MAX_DEVICE_NAME_LENGTH].rstrip()
    return name or None


def start_session(
    *,
    session_id: UUID,
    user_id: UUID,
    client_id: str,
    device_name: str | None,
    now: datetime,
    policy: SessionPolicy,
) -> Session:
    return Session(
        id=session_id,
        user_id=user_id,
        client_id=client_id,
        device_name=check_device_name(device_name),
        created_at=now,
        last_used_at=now,
        expires_at=now + policy.max_age,
    )


def refresh_token_expiry(session: Session, now: datetime, policy: SessionPolicy) -> datetime:
    """Idle lifetime from now, never past the session's absolute lifetime."""
    return min(now + policy.refresh_idle_ttl, session.expires_at)


@dataclass(frozen=True)
class Rotate:
    """The presented token is live and unspent: spend it and issue a successor."""


@dataclass(frozen=True)
class HandBackSuccessor:
    """A retry within the grace window: answer with the already issued successor."""

    successor: RefreshToken


@dataclass(frozen=True)
class RevokeForReuse:
    """A spent token replayed outside the grace rule: kill the whole session."""


RefreshDecision = Rotate | HandBackSuccessor | RevokeForReuse


def judge_refresh(
    token: RefreshToken,
    session: Session,
    successor: RefreshToken | None,
    now: datetime,
    policy: SessionPolicy,
) -> RefreshDecision:
    """Decide what presenting `token` at `now` does. Raises InvalidRefreshToken when dead."""
    if not session.is_live(now):
        raise InvalidRefreshToken("session is not live")
    if token.rotated_at is None:
        if now >= token.expires_at:
            raise InvalidRefreshToken("refresh token expired")
        return Rotate()
    if (
        successor is not None
        and successor.rotated_at is None
        and now < successor.expires_at
        and now - token.rotated_at <= policy.reuse_grace
    ):
        if now >= token.expires_at:
            # A harmless retry, but of a token whose own idle lifetime is over: dead, not reuse.
            raise InvalidRefreshToken("refresh token expired")
        return HandBackSuccessor(successor)
    return RevokeForReuse()
