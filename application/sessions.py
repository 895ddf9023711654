"""List a user's sessions and revoke one of them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from application.authenticate import Principal
from application.ports import AuditLog, Clock, UnitOfWorkFactory
from domain.errors import SessionNotFound
from domain.session import SessionPolicy


@dataclass(frozen=True)
class SessionView:
    id: UUID
    device_name: str | None
    created_at: datetime
    last_used_at: datetime
    current: bool


class ListSessions:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, policy: SessionPolicy) -> None:
        self._uow = uow
        self._clock = clock
        self._policy = policy

    def __call__(self, principal: Principal) -> list[SessionView]:
        now = self._clock.now()
        with self._uow() as uow:
            live = uow.sessions.list_live(principal.user_id, now)
        # A session idle past the refresh lifetime can never be used again: not listed.
        sessions = [s for s in live if s.is_usable(now, self._policy)]
        return [
            SessionView(
                id=s.id,
                device_name=s.device_name,
                created_at=s.created_at,
                last_used_at=s.last_used_at,
                current=s.id == principal.session_id,
            )
            for s in sessions
        ]


class RevokeSession:
    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, audit: AuditLog, policy: SessionPolicy
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._audit = audit
        self._policy = policy

    def __call__(self, principal: Principal, session_id: UUID) -> None:
        now = self._clock.now()
        with self._uow() as uow:
            session = uow.sessions.get(session_id)
            # Another user's session answers exactly like a missing one.
            if (
                session is None
                or session.user_id != principal.user_id
                or not session.is_usable(now, self._policy)
            ):
                raise SessionNotFound("no such session")
            uow.sessions.revoke(session_id, now)
            uow.commit()
        self._audit.event("session_revoked", user_id=principal.user_id, session_id=session_id)
