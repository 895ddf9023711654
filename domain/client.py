"""OAuth clients: registered service clients, and the ids that public clients name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.errors import InvalidInput, InvalidRequest

MAX_CLIENT_ID_LENGTH = 255
MAX_CLIENT_NAME_LENGTH = 255
# What a deleted client's secret hash becomes: no secret's digest is empty.
DELETED_SECRET_HASH = ""


@dataclass(frozen=True)
class ServiceClient:
    """A confidential client (another service) that authenticates with a secret.

    Only a keyed hash of the secret is kept; the secret is shown once, at creation.
    """

    id: str
    name: str
    secret_hash: str
    created_at: datetime
    # Deleted clients are kept, so that their id can never be taken again:
    # not by a public client naming itself so, nor by anyone's refresh token.
    deleted_at: datetime | None = None

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


def check_client_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_CLIENT_NAME_LENGTH or not name.isprintable():
        raise InvalidInput(
            f"client name must be 1 to {MAX_CLIENT_NAME_LENGTH} printable characters"
        )
    return name


def is_client_id(client_id: str) -> bool:
    """RFC 6749 A.1: a client_id is visible ASCII (VSCHAR); ours also fits the sessions column."""
    return (
        bool(client_id)
        and len(client_id) <= MAX_CLIENT_ID_LENGTH
        and all(" " <= ch <= "~" for ch in client_id)
    )


def check_public_client_id(client_id: str) -> str:
    if not is_client_id(client_id):
        raise InvalidRequest("client_id is not a valid client identifier")
    return client_id
