"""The OAuth 2 endpoints' use cases: token (RFC 6749), introspection (RFC 7662)
and revocation (RFC 7009). The grants reuse LogIn and Refresh, so /oauth/token
follows exactly the rotation, grace and reuse rules of /v1/auth/refresh."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from application.authenticate import Authenticate
from application.clients import ClientAuthenticator, PresentedClient, is_confidential
from application.login import LogIn, LogInCommand
from application.ports import AuditLog, UnitOfWorkFactory
from application.refresh import Refresh, RefreshCommand
from application.tokens import TokenPair, TokenServices
from domain.errors import InvalidRequest, InvalidToken, UnsupportedGrantType
from domain.session import DEFAULT_CLIENT_ID

TokenKind = Literal["access_token", "refresh_token"]
ACCESS_TOKEN: TokenKind = "access_token"
REFRESH_TOKEN: TokenKind = "refresh_token"
GRANT_TYPES = ("password", "refresh_token")


@dataclass(frozen=True)
class GrantRequest:
    grant_type: str
    client: PresentedClient | None = None
    username: str | None = None
    password: str | None = None
    refresh_token: str | None = None
    device_name: str | None = None
    client_ip: str | None = None


class ExchangeGrant:
    """The token endpoint: the password grant (4.3) and the refresh_token grant (6)."""

    def __init__(
        self,
        clients: ClientAuthenticator,
        log_in: LogIn,
        refresh: Refresh,
    ) -> None:
        self._clients = clients
        self._log_in = log_in
        self._refresh = refresh

    def __call__(self, request: GrantRequest) -> TokenPair:
        grant_type = _required(request.grant_type, "grant_type")
        if grant_type == "password":
            email = _required(request.username, "username")
            password = _required(request.password, "password")
            client_id = self._identify(request.client)
            return self._log_in(
                LogInCommand(
                    email=email,
                    password=password,
                    device_name=request.device_name,
                    client_id=client_id or DEFAULT_CLIENT_ID,
                    client_ip=request.client_ip,
                )
            )
        if grant_type == "refresh_token":
            token = _required(request.refresh_token, "refresh_token")
            # A client that names itself must be the one the session was started by.
            client_id = self._identify(request.client)
            return self._refresh(
                RefreshCommand(
                    refresh_token=token, client_id=client_id, client_ip=request.client_ip
                )
            )
        raise UnsupportedGrantType(f"grant_type must be one of: {', '.join(GRANT_TYPES)}")

    def _identify(self, client: PresentedClient | None) -> str | None:
        return self._clients.identify(client)


@dataclass(frozen=True)
class TokenInfo:
    """What introspection tells about a live token."""

    token_type: TokenKind
    subject: UUID
    session_id: UUID
    client_id: str
    issued_at: datetime
    expires_at: datetime
    issuer: str
    audience: tuple[str, ...]


class _TokenLookup:
    """Finds the live token behind a string, whichever kind it is."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clients: ClientAuthenticator,
        tokens: TokenServices,
        authenticate: Authenticate,
        issuer: str,
    ) -> None:
        self._uow = uow
        self._clients = clients
        self._tokens = tokens
        self._authenticate = authenticate
        self._issuer = issuer

    def _find(self, token: str, hint: str | None, *, spent_ok: bool = False) -> TokenInfo | None:
        """Called outside any unit of work: each kind's lookup opens its own."""
        for kind in _search_order(hint):
            if kind == ACCESS_TOKEN:
                info = self._access_token(token)
            else:
                info = self._refresh_token(token, spent_ok)
            if info is not None:
                return info
        return None

    def _access_token(self, token: str) -> TokenInfo | None:
        # Exactly what a protected route accepts: signature, claims, and a live session.
        try:
            claims = self._authenticate(token).claims
        except InvalidToken:
            return None
        if claims.expires_at <= self._tokens.clock.now():
            # The leeway is for other clocks than ours; judging our own token
            # on our own clock, past `exp` is not active (RFC 7662 2.2).
            return None
        return TokenInfo(
            token_type=ACCESS_TOKEN,
            subject=claims.subject,
            session_id=claims.session_id,
            client_id=claims.client_id,
            issued_at=claims.issued_at,
            expires_at=claims.expires_at,
            issuer=claims.issuer,
            audience=claims.audience,
        )

    def _refresh_token(self, token: str, spent_ok: bool) -> TokenInfo | None:
        now = self._tokens.clock.now()
        with self._uow() as uow:
            record = uow.refresh_tokens.get_by_hash(self._tokens.codec.digest(token))
            if record is None or now >= record.expires_at or (record.is_spent and not spent_ok):
                return None
            session = uow.sessions.get(record.session_id)
        if session is None or not session.is_live(now):
            return None
        return TokenInfo(
            token_type=REFRESH_TOKEN,
            subject=session.user_id,
            session_id=session.id,
            client_id=session.client_id,
            issued_at=record.issued_at,
            expires_at=record.expires_at,
            issuer=self._issuer,
            # Only this service accepts a refresh token: it is its own audience.
            audience=(self._issuer,),
        )


class Introspect(_TokenLookup):
    """RFC 7662, for registered service clients only. Anything not live
    (expired, revoked, unknown or garbage) is simply not active: None.

    A spent refresh token is not active either, even within the grace window:
    presenting it again may still hand back its successor, but it is no longer
    the session's current token, and a second presentation may be a replay.
    """

    def __call__(
        self, client: PresentedClient | None, token: str, hint: str | None = None
    ) -> TokenInfo | None:
        self._clients.authenticate(client)
        return self._find(token, hint)


class RevokeToken(_TokenLookup):
    """RFC 7009: a refresh token (spent or not) or an access token ends its whole session.

    Unknown, dead and foreign tokens change nothing and raise nothing: the
    endpoint answers 200 whatever the token was, so it reveals nothing either.
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clients: ClientAuthenticator,
        tokens: TokenServices,
        authenticate: Authenticate,
        issuer: str,
        audit: AuditLog,
    ) -> None:
        super().__init__(uow, clients, tokens, authenticate, issuer)
        self._audit = audit

    def __call__(self, client: PresentedClient | None, token: str, hint: str | None = None) -> None:
        client_id = self._clients.identify(client)
        # A spent token counts: its holder may be the legitimate client
        # logging out after a lost refresh response, or a thief; either way
        # ending the session is the safe answer.
        info = self._find(token, hint, spent_ok=True)
        # RFC 7009 2.1: a client may revoke only the tokens issued to it.
        if info is None or (client_id is not None and client_id != info.client_id):
            return
        with self._uow() as uow:
            # RFC 7009 2.1: a confidential client's tokens are revoked only by it.
            if client_id is None and is_confidential(uow, info.client_id):
                return
            uow.sessions.revoke(info.session_id, self._tokens.clock.now())
            uow.commit()
        self._audit.event("token_revoked", user_id=info.subject, session_id=info.session_id)


def _search_order(hint: str | None) -> tuple[TokenKind, TokenKind]:
    # The hint only decides which kind is looked up first (RFC 7009 2.1, RFC 7662 2.1).
    if hint == REFRESH_TOKEN:
        return (REFRESH_TOKEN, ACCESS_TOKEN)
    return (ACCESS_TOKEN, REFRESH_TOKEN)


def _required(value: str | None, name: str) -> str:
    if not value:
        raise InvalidRequest(f"{name} is missing")
    return value
