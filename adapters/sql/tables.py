"""The schema as SQLAlchemy Core tables. Rows are converted to domain objects in
repositories.py; nothing here knows the domain.

Later tables (service clients, signing keys) join this same `metadata`, each
with its own migration.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    TypeDecorator,
    Uuid,
)

# Named constraints let Alembic's batch mode (SQLite) find and alter them later.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """Stores UTC and always reads back an aware UTC datetime.

    SQLite has no time zone type, so values are stored there as naive UTC;
    PostgreSQL gets `timestamptz`. Naive input is refused: guessing its zone
    would silently shift expiry times.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime; pass a timezone-aware UTC datetime")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


users = Table(
    "users",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("email", String(320), nullable=False),
    Column("email_canonical", String(320), nullable=False, unique=True),
    Column("password_hash", String(512), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("disabled_at", UtcDateTime, nullable=True),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("client_id", String(255), nullable=False),
    Column("device_name", String(255), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_used_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    Index(None, "user_id"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("session_id", Uuid, ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(128), nullable=False, unique=True),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("rotated_at", UtcDateTime, nullable=True),
    # No foreign key: the parent is marked rotated (naming its successor) before
    # the successor row is inserted, and PostgreSQL checks a plain foreign key
    # per statement. Both rows belong to one session, so its cascade cleans up.
    Column("successor_id", Uuid, nullable=True),
    Column("successor_seal", LargeBinary, nullable=True),
    Index(None, "session_id"),
)

service_clients = Table(
    "service_clients",
    metadata,
    # A string, not a Uuid column: public client ids of any shape are looked up here too.
    Column("id", String(255), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("secret_hash", String(128), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("deleted_at", UtcDateTime, nullable=True),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(128), primary_key=True),
    # Unique: two instances adding a key at once cannot both win (first key, rotation).
    Column("generation", Integer, nullable=False, unique=True),
    Column("alg", String(16), nullable=False),
    # AES-GCM ciphertext of the PKCS#8 private key; never stored in clear.
    Column("sealed_private_key", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("retired_at", UtcDateTime, nullable=True),
    # When it starts signing (published from created_at); NULL: at created_at.
    Column("signs_from", UtcDateTime, nullable=True),
)
