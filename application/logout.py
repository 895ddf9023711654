"""Log out: end this device's session, the others, or all of them."""

from __future__ import annotations

from enum import StrEnum

from application.authenticate import Principal
from application.ports import AuditLog, Clock, UnitOfWorkFactory


class LogoutScope(StrEnum):
    LOCAL = "local"
    OTHERS = "others"
    GLOBAL = "global"


class LogOut:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, audit: AuditLog) -> None:
        self._uow = uow
        self._clock = clock
        self._audit = audit

    def __call__(self, principal: Principal, scope: LogoutScope = LogoutScope.LOCAL) -> None:
        now = self._clock.now()
        with self._uow() as uow:
            if scope is LogoutScope.LOCAL:
                uow.sessions.revoke(principal.session_id, now)
            elif scope is LogoutScope.OTHERS:
                uow.sessions.revoke_all(principal.user_id, now, keep=principal.session_id)
            else:
                uow.sessions.revoke_all(principal.user_id, now)
            uow.commit()
        self._audit.event(
            "logout", user_id=principal.user_id, session_id=principal.session_id, scope=scope.value
        )
