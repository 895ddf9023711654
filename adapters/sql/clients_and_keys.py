"""Repositories of service clients and signing keys over one SQLAlchemy Connection.

Like repositories.py, they never commit: the unit of work owns the transaction,
or runs without one (autocommit).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from adapters.sql.repositories import savepoint
from adapters.sql.tables import service_clients, signing_keys
from domain.client import DELETED_SECRET_HASH, ServiceClient
from domain.signing_key import SigningKeyRecord


class SqlClientRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, client: ServiceClient) -> None:
        self._conn.execute(
            insert(service_clients).values(
                id=client.id,
                name=client.name,
                secret_hash=client.secret_hash,
                created_at=client.created_at,
                deleted_at=client.deleted_at,
            )
        )

    def get(self, client_id: str) -> ServiceClient | None:
        query = select(service_clients).where(service_clients.c.id == client_id)
        row = self._conn.execute(query).one_or_none()
        return _client(row) if row is not None else None

    def list_all(self) -> Sequence[ServiceClient]:
        query = (
            select(service_clients)
            .where(service_clients.c.deleted_at.is_(None))
            .order_by(service_clients.c.created_at, service_clients.c.id)
        )
        return [_client(row) for row in self._conn.execute(query)]

    def delete(self, client_id: str, now: datetime) -> bool:
        result = self._conn.execute(
            update(service_clients)
            .where(service_clients.c.id == client_id, service_clients.c.deleted_at.is_(None))
            # No digest is empty: the secret stops matching on instances of a
            # release before the deleted_at column too (a rolling upgrade).
            .values(deleted_at=now, secret_hash=DELETED_SECRET_HASH)
        )
        return result.rowcount == 1


class SqlSigningKeyRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, key: SigningKeyRecord) -> bool:
        # Under a race the loser waits for the winner's commit, then fails here.
        try:
            with savepoint(self._conn):
                self._conn.execute(insert(signing_keys).values(_key_values(key)))
        except IntegrityError:
            return False
        return True

    def list_all(self) -> Sequence[SigningKeyRecord]:
        query = select(signing_keys).order_by(signing_keys.c.generation)
        return [_key(row) for row in self._conn.execute(query)]

    def retire_older(self, generation: int, at: datetime) -> None:
        retired = signing_keys.c.retired_at
        self._conn.execute(
            update(signing_keys)
            .where(signing_keys.c.generation < generation, or_(retired.is_(None), retired > at))
            .values(retired_at=at)
        )

    def delete(self, kid: str) -> None:
        self._conn.execute(delete(signing_keys).where(signing_keys.c.kid == kid))

    def set_sealed(self, kid: str, sealed_private_key: bytes) -> None:
        self._conn.execute(
            update(signing_keys)
            .where(signing_keys.c.kid == kid)
            .values(sealed_private_key=sealed_private_key)
        )


def _client(row: Row[Any]) -> ServiceClient:
    return ServiceClient(
        id=row.id,
        name=row.name,
        secret_hash=row.secret_hash,
        created_at=row.created_at,
        deleted_at=row.deleted_at,
    )


def _key_values(key: SigningKeyRecord) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "generation": key.generation,
        "alg": key.alg,
        "sealed_private_key": key.sealed_private_key,
        "created_at": key.created_at,
        "retired_at": key.retired_at,
        "signs_from": key.signs_from,
    }


def _key(row: Row[Any]) -> SigningKeyRecord:
    return SigningKeyRecord(
        kid=row.kid,
        alg=row.alg,
        generation=row.generation,
        sealed_private_key=row.sealed_private_key,
        created_at=row.created_at,
        retired_at=row.retired_at,
        signs_from=row.signs_from,
    )
