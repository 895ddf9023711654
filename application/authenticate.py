"""Authenticate: turn a bearer access token into the caller it names."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from application.ports import AccessClaims, AccessTokenSigner, Clock, UnitOfWorkFactory
from domain.errors import InvalidToken


@dataclass(frozen=True)
class Principal:
    user_id: UUID
    session_id: UUID
    claims: AccessClaims


class Authenticate:
    def __init__(self, uow: UnitOfWorkFactory, signer: AccessTokenSigner, clock: Clock) -> None:
        self._uow = uow
        self._signer = signer
        self._clock = clock

    def __call__(self, token: str) -> Principal:
        now = self._clock.now()
        claims = self._signer.verify(token, now)
        # Offline verification cannot see revocation; this service can, so it
        # refuses tokens of revoked sessions (and so of disabled or deleted users) at once.
        with self._uow() as uow:
            session = uow.sessions.get(claims.session_id)
        if session is None or session.user_id != claims.subject or not session.is_live(now):
            raise InvalidToken("session is not live")
        return Principal(user_id=claims.subject, session_id=claims.session_id, claims=claims)
