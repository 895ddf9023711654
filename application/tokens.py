"""Issuing a token pair for a session: shared by log in and refresh."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from application.ports import AccessTokenSigner, Clock, IdGenerator, RefreshTokenCodec
from domain.session import RefreshToken, Session, SessionPolicy, refresh_token_expiry


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_token_expires_in: int
    session_id: UUID
    user_id: UUID


@dataclass(frozen=True)
class TokenServices:
    """What every use case that hands out tokens needs."""

    signer: AccessTokenSigner
    codec: RefreshTokenCodec
    clock: Clock
    ids: IdGenerator
    policy: SessionPolicy

    def new_refresh_token(self, session: Session, now: datetime) -> tuple[str, RefreshToken]:
        plain = self.codec.new_token()
        record = RefreshToken(
            id=self.ids.new_id(),
            session_id=session.id,
            token_hash=self.codec.digest(plain),
            issued_at=now,
            expires_at=refresh_token_expiry(session, now, self.policy),
        )
        return plain, record

    def pair(
        self, session: Session, refresh_plain: str, refresh: RefreshToken, now: datetime
    ) -> TokenPair:
        access, access_expires_at = self.signer.issue(
            user_id=session.user_id,
            session_id=session.id,
            client_id=session.client_id,
            now=now,
            # Its refresh token's end: the session's idle lifetime, capped by its
            # absolute one. A session that has idled out takes its tokens along.
            not_after=refresh.expires_at,
        )
        return TokenPair(
            access_token=access,
            expires_in=_seconds_until(access_expires_at, now),
            refresh_token=refresh_plain,
            refresh_token_expires_in=_seconds_until(refresh.expires_at, now),
            session_id=session.id,
            user_id=session.user_id,
        )


def _seconds_until(moment: datetime, now: datetime) -> int:
    # Rounded up: an access token's exp is whole seconds, so it may end a fraction early.
    return max(0, math.ceil((moment - now).total_seconds()))
