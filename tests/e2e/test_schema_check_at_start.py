"""`latchkey serve` without LATCHKEY_AUTO_MIGRATE checks the schema first. It refuses
one that lacks a migration (test_cli.py), but serves on one that a later release
has already migrated: during a rolling upgrade, or after a rollback, older
instances must keep starting (docs/deployment.md)."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from adapters.sql.migrate import upgrade
from tests.server import running_server


def test_serve_starts_on_a_schema_that_a_later_release_has_migrated(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'latchkey.db'}"
    upgrade(url)
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_later'"))
    engine.dispose()

    with running_server(tmp_path / "var", url, auto_migrate="false") as base_url:
        assert httpx.get(f"{base_url}/readyz").status_code == 200
