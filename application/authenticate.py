"""Authenticate: turn a bearer access token into the caller it names."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from application.ports import (
    AccessClaims,
    AccessTokenSigner,
    Clock,
    LiveSessions,
    UnitOfWorkFactory,
)
from domain.errors import InvalidToken
from domain.session import Session


@dataclass(frozen=True)
class Principal:
    user_id: UUID
    session_id: UUID
    claims: AccessClaims


class SessionsInStore:
    """LiveSessions read straight from the store, every time."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    def live_until(self, session_id: UUID, user_id: UUID) -> datetime | None:
        # One read path: the cache in front calls live_until_many.
        key = (session_id, user_id)
        return self.live_until_many([key])[key]

    def live_until_many(
        self, keys: Collection[tuple[UUID, UUID]]
    ) -> dict[tuple[UUID, UUID], datetime | None]:
        """`live_until` of each (session id, user id), read in one query."""
        with self._uow(autocommit=True) as uow:
            found = {s.id: s for s in uow.sessions.get_many({sid for sid, _ in keys})}
        return {(sid, uid): _live_until(found.get(sid), uid) for sid, uid in keys}


def _live_until(session: Session | None, user_id: UUID) -> datetime | None:
    if session is None or session.user_id != user_id or session.revoked_at is not None:
        return None
    return session.expires_at


class Authenticate:
    def __init__(self, signer: AccessTokenSigner, sessions: LiveSessions, clock: Clock) -> None:
        self._signer = signer
        self._sessions = sessions
        self._clock = clock

    def __call__(self, token: str) -> Principal:
        now = self._clock.now()
        claims = self._signer.verify(token, now)
        # Offline verification cannot see revocation; this service can, so it
        # refuses tokens of revoked sessions (and so of disabled or deleted users) at once.
        live_until = self._sessions.live_until(claims.session_id, claims.subject)
        if live_until is None or now >= live_until:
            raise InvalidToken("session is not live")
        return Principal(user_id=claims.subject, session_id=claims.session_id, claims=claims)
