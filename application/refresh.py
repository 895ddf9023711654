"""Refresh: trade a refresh token for a new pair, rotating the token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from application.clients import is_confidential
from application.ports import AuditLog, UnitOfWork, UnitOfWorkFactory
from application.throttling import LimitRequests
from application.tokens import TokenPair, TokenServices
from domain.errors import InvalidRefreshToken, RefreshTokenReused
from domain.session import (
    HandBackSuccessor,
    RefreshToken,
    RevokeForReuse,
    Rotate,
    Session,
    judge_refresh,
)


@dataclass(frozen=True)
class RefreshCommand:
    refresh_token: str
    client_id: str | None = None
    client_ip: str | None = None


class Refresh:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        tokens: TokenServices,
        audit: AuditLog,
        budget: LimitRequests,
    ) -> None:
        self._uow = uow
        self._tokens = tokens
        self._audit = audit
        self._budget = budget

    def __call__(self, command: RefreshCommand) -> TokenPair:
        # The per-IP budget, whichever endpoint the refresh came through.
        self._budget(command.client_ip)
        presented = command.refresh_token
        digest = self._tokens.codec.digest(presented)
        # Each write below (the rotation, or the revocation) is one atomic
        # statement, committed at once: no transaction is needed around them.
        with self._uow(autocommit=True) as uow:
            # A lost compare-and-set means a concurrent request spent the token
            # first; judging again then sees its successor (the grace rule).
            lost_race = False
            for _ in range(2):
                token, session = _load(uow, digest)
                if command.client_id is not None and command.client_id != session.client_id:
                    raise InvalidRefreshToken("refresh token was issued to another client")
                if command.client_id is None and is_confidential(uow, session.client_id):
                    # RFC 6749 §6: a confidential client's refresh token is bound
                    # to it; without its credentials the token is worthless.
                    raise InvalidRefreshToken("refresh token needs its client's credentials")
                successor = (
                    uow.refresh_tokens.get(token.successor_id) if token.successor_id else None
                )
                now = self._tokens.clock.now()
                decision = judge_refresh(token, session, successor, now, self._tokens.policy)
                if isinstance(decision, RevokeForReuse) and lost_race:
                    # Spent during this very request, by a parallel one: a race,
                    # not a replay of an old token (SECURITY.md 3), even with no
                    # grace. Still worth a line: the other may have been a thief.
                    self._audit.event(
                        "refresh_spent_concurrently",
                        user_id=session.user_id,
                        session_id=session.id,
                    )
                    raise InvalidRefreshToken("refresh token was spent concurrently")
                if isinstance(decision, RevokeForReuse):
                    # Committed before raising: the error must not roll the revocation back.
                    uow.sessions.revoke(session.id, now)
                    uow.commit()
                    self._audit.event(
                        "refresh_reuse_detected", user_id=session.user_id, session_id=session.id
                    )
                    raise RefreshTokenReused(session.id, session.user_id)
                if isinstance(decision, HandBackSuccessor):
                    pair = self._hand_back(presented, token, decision.successor, session, now)
                    self._audit.event(
                        "refresh_retried", user_id=session.user_id, session_id=session.id
                    )
                    return pair
                assert isinstance(decision, Rotate)
                plain, successor = self._tokens.new_refresh_token(session, now)
                seal = self._tokens.codec.seal(presented, plain)
                if not uow.refresh_tokens.rotate(token, successor, seal, now):
                    lost_race = True
                    continue
                uow.commit()
                self._audit.event("refresh", user_id=session.user_id, session_id=session.id)
                return self._tokens.pair(session, plain, successor, now)
        raise InvalidRefreshToken("refresh token was spent concurrently")

    def _hand_back(
        self,
        presented: str,
        token: RefreshToken,
        successor: RefreshToken,
        session: Session,
        now: datetime,
    ) -> TokenPair:
        if token.successor_seal is None:
            raise InvalidRefreshToken("spent refresh token has no successor")
        plain = self._tokens.codec.unseal(presented, token.successor_seal)
        if self._tokens.codec.digest(plain) != successor.token_hash:
            raise InvalidRefreshToken("successor does not match")
        return self._tokens.pair(session, plain, successor, now)


def _load(uow: UnitOfWork, digest: str) -> tuple[RefreshToken, Session]:
    found = uow.refresh_tokens.get_with_session(digest)
    if found is None:
        raise InvalidRefreshToken("unknown refresh token")
    return found
