"""The Alembic migrations against real, empty databases."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text

from adapters.sql.engine import make_engine
from adapters.sql.migrate import (
    SchemaState,
    alembic_config,
    current_and_head,
    is_up_to_date,
    schema_state,
    upgrade,
)
from adapters.sql.tables import metadata, users
from domain.user import Email


def test_upgrading_an_empty_database_brings_it_to_head(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        current, head = current_and_head(engine)
        assert current is None
        assert head is not None
        assert not is_up_to_date(engine)

        upgrade(database_url)

        assert current_and_head(engine) == (head, head)
        assert is_up_to_date(engine)
    finally:
        engine.dispose()


def test_upgrading_twice_is_harmless(database_url: str) -> None:
    upgrade(database_url)
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        assert is_up_to_date(engine)
    finally:
        engine.dispose()


def test_the_migrated_schema_matches_the_table_definitions(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def test_migrating_over_a_given_sqlite_connection_leaves_its_foreign_keys_enforced(
    sqlite_url: str,
) -> None:
    # Migrations switch them off (batch mode recreates tables); a pooled
    # connection must not go back to the application without them.
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as connection:
            config = alembic_config(sqlite_url)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            assert not connection.in_transaction()
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_the_clients_and_signing_keys_migration_can_be_undone_and_redone(
    database_url: str,
) -> None:
    upgrade(database_url)
    command.downgrade(alembic_config(database_url), "0001")
    engine = make_engine(database_url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert {"users", "sessions", "refresh_tokens"} <= tables
        assert not {"service_clients", "signing_keys"} & tables
        upgrade(database_url)
        assert is_up_to_date(engine)
    finally:
        engine.dispose()


def test_a_schema_is_behind_until_migrated_and_ahead_once_a_later_release_migrated_it(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    try:
        assert schema_state(engine) is SchemaState.BEHIND
        command.upgrade(alembic_config(database_url), "0001")
        assert schema_state(engine) is SchemaState.BEHIND
        upgrade(database_url)
        assert schema_state(engine) is SchemaState.CURRENT

        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '9999_later'"))
        assert schema_state(engine) is SchemaState.AHEAD
    finally:
        engine.dispose()


def test_canonical_emails_are_refolded_and_a_collision_keeps_its_old_form(
    database_url: str,
) -> None:
    # Rows as release 0002 stored them: the canonical form was the casefold.
    command.upgrade(alembic_config(database_url), "0002")
    rows = {
        "ascii": ("Ada@Example.com", "ada@example.com"),
        "punycode": ("bob@XN--MNCHEN-3YA.de", "bob@xn--mnchen-3ya.de"),
        "decomposed": ("rene\u0301@example.com", "rene\u0301@example.com"),
        "unicode twin": ("eve@münchen.de", "eve@münchen.de"),
        "punycode twin": ("eve@xn--mnchen-3ya.de", "eve@xn--mnchen-3ya.de"),
    }
    ids = {name: uuid4() for name in rows}
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            for name, (email, canonical) in rows.items():
                connection.execute(
                    users.insert().values(
                        id=ids[name],
                        email=email,
                        email_canonical=canonical,
                        password_hash="$argon2id$not-checked-here",
                        created_at=datetime.now(UTC),
                    )
                )
        upgrade(database_url)
        with engine.connect() as connection:
            found = dict(connection.execute(select(users.c.id, users.c.email_canonical)).all())
    finally:
        engine.dispose()
    assert found[ids["ascii"]] == "ada@example.com"
    assert found[ids["punycode"]] == Email("bob@münchen.de").canonical
    assert found[ids["decomposed"]] == "ren\u00e9@example.com"
    assert found[ids["unicode twin"]] == "eve@münchen.de"
    assert found[ids["punycode twin"]] == "eve@xn--mnchen-3ya.de"


def test_the_embedded_database_and_its_journal_are_readable_by_their_owner_only(
    tmp_path: Path,
) -> None:
    # It holds password hashes and sealed signing keys, as the 0600 key files do.
    path = tmp_path / "var" / "latchkey.db"
    upgrade(f"sqlite:///{path}")
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as connection:  # a write: the journal exists while it is open
            connection.execute(text("DELETE FROM users"))
        with engine.connect():
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in path.parent.iterdir()}
    finally:
        engine.dispose()
    assert modes == {"latchkey.db": 0o600, "latchkey.db-wal": 0o600, "latchkey.db-shm": 0o600}
