"""OAuth clients: registering service clients, and telling who a request comes from.

Two kinds of client exist. A public client (a browser or mobile app) cannot
keep a secret: it only names itself with a `client_id`, which the session keeps.
A service client (another microservice) is registered with
`latchkey clients create` and proves itself with its secret (HTTP Basic).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from application.ports import (
    AuditLog,
    ClientSecretHasher,
    Clock,
    IdGenerator,
    ServiceClientDirectory,
    UnitOfWork,
    UnitOfWorkFactory,
)
from domain.client import ServiceClient, check_client_name, check_public_client_id, is_client_id
from domain.errors import ClientNotFound, InvalidClient
from domain.session import DEFAULT_CLIENT_ID

# Hashed when the client is unknown, so that an unknown id costs what a wrong secret costs.
_NO_SUCH_DIGEST = "0" * 64


@dataclass(frozen=True)
class PresentedClient:
    """What a request says about its client: an id, with a secret when it authenticates."""

    client_id: str
    secret: str | None = None


def presented_client(
    basic: tuple[str, str] | None, body_client_id: str | None
) -> PresentedClient | None:
    """Merge HTTP Basic credentials and a `client_id` form parameter (RFC 6749 2.3).

    Basic credentials with an empty secret only name a public client (Swagger
    UI sends `Basic base64(":")` when no client is filled in); with an empty
    id too, they say nothing at all.
    """
    if basic is None:
        return PresentedClient(body_client_id) if body_client_id else None
    basic_id, secret = basic
    if body_client_id and body_client_id != basic_id:
        # Claiming to be one client with the credentials of another.
        raise InvalidClient("client_id does not match the client credentials")
    if secret:
        return PresentedClient(basic_id, secret)
    return PresentedClient(basic_id) if basic_id else None


class ClientsInStore:
    """ServiceClientDirectory read straight from the store, every time."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    def get(self, client_id: str) -> ServiceClient | None:
        with self._uow(autocommit=True) as uow:
            return uow.clients.get(client_id)


class ClientAuthenticator:
    def __init__(self, secrets: ClientSecretHasher, clients: ServiceClientDirectory) -> None:
        self._secrets = secrets
        self._clients = clients

    def authenticate(self, presented: PresentedClient | None) -> ServiceClient:
        """The service client that proved itself with its secret; else InvalidClient."""
        if presented is None or not presented.secret:
            raise InvalidClient("client authentication required")
        # No identifier of ours could look like this one (a NUL, say): unknown,
        # without asking a database that might refuse to compare it.
        valid = is_client_id(presented.client_id)
        client = self._clients.get(presented.client_id) if valid else None
        stored = client.secret_hash if client is not None else _NO_SUCH_DIGEST
        # Compared whatever the client, so that the time taken tells nothing.
        matched = self._secrets.matches(presented.secret, stored)
        if client is None or client.is_deleted or not matched:
            raise InvalidClient("unknown client or wrong secret")
        return client

    def identify(self, presented: PresentedClient | None) -> str | None:
        """The client a request comes from: an authenticated service client, a
        public client that named itself, or None when it said nothing."""
        if presented is None:
            return None
        if presented.secret:
            return self.authenticate(presented).id
        client_id = check_public_client_id(presented.client_id)
        # A registered client must prove itself: without this, anyone could
        # obtain tokens whose client_id claims to be another service.
        if self._clients.get(client_id) is not None:
            raise InvalidClient("this client must authenticate")
        return client_id


def is_confidential(uow: UnitOfWork, client_id: str) -> bool:
    """Whether `client_id` names a registered service client (one with a secret).

    A deleted one still does: its tokens need credentials that no longer work.
    """
    return client_id != DEFAULT_CLIENT_ID and uow.clients.get(client_id) is not None


@dataclass(frozen=True)
class CreatedClient:
    client: ServiceClient
    secret: str  # shown once, never stored


class ManageClients:
    """Operator actions on service clients (the `latchkey clients` CLI)."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        secrets: ClientSecretHasher,
        clock: Clock,
        ids: IdGenerator,
        audit: AuditLog,
    ) -> None:
        self._uow = uow
        self._secrets = secrets
        self._clock = clock
        self._ids = ids
        self._audit = audit

    def create(self, name: str) -> CreatedClient:
        secret = self._secrets.new_secret()
        client = ServiceClient(
            id=str(self._ids.new_id()),
            name=check_client_name(name),
            secret_hash=self._secrets.digest(secret),
            created_at=self._clock.now(),
        )
        with self._uow() as uow:
            uow.clients.add(client)
            uow.commit()
        self._audit.event("client_created", client_id=client.id)
        return CreatedClient(client=client, secret=secret)

    def list(self) -> Sequence[ServiceClient]:
        with self._uow() as uow:
            return uow.clients.list_all()

    def delete(self, client_id: str) -> None:
        """The client's secret stops working, and the sessions it started end:
        their refresh tokens would otherwise need no secret any more."""
        now = self._clock.now()
        with self._uow() as uow:
            if not uow.clients.delete(client_id, now):
                raise ClientNotFound("no such client")
            uow.sessions.revoke_for_client(client_id, now)
            uow.commit()
        self._audit.event("client_deleted", client_id=client_id)
