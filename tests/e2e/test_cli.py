"""The `latchkey` command line, run as a real process."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from adapters.sql.migrate import alembic_config
from tests.e2e.conftest import PASSWORD

LATCHKEY = str(Path(sys.executable).with_name("latchkey"))


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("LATCHKEY_")}
    return {
        **base,
        "LATCHKEY_DATA_DIR": str(tmp_path / "var"),
        "LATCHKEY_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
    }


def run(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LATCHKEY, *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_config_prints_every_setting_with_secrets_masked(env: dict[str, str]) -> None:
    env = {
        **env,
        "LATCHKEY_REFRESH_TOKEN_KEY": "super-secret-refresh-key-value-0123456789",
        "LATCHKEY_DATABASE_URL": "postgresql+psycopg://app:hunter2@db.internal/latchkey",
        "LATCHKEY_ACCESS_TOKEN_TTL": "300",
    }
    result = run(env, "config")
    assert result.returncode == 0, result.stderr
    assert "LATCHKEY_ACCESS_TOKEN_TTL=300" in result.stdout
    assert "LATCHKEY_ISSUER=http://127.0.0.1:8000" in result.stdout
    assert "LATCHKEY_REFRESH_TOKEN_KEY=**********" in result.stdout
    assert "super-secret" not in result.stdout
    assert "hunter2" not in result.stdout


def test_users_can_be_created_disabled_enabled_and_deleted(env: dict[str, str]) -> None:
    assert run(env, "migrate").returncode == 0
    created = run(env, "users", "create", "ops@example.com", stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["email"] == "ops@example.com"
    assert PASSWORD not in created.stdout + created.stderr
    again = run(env, "users", "create", "OPS@example.com", stdin=PASSWORD + "\n")
    assert again.returncode == 1
    assert "already" in again.stderr
    for action in ("disable", "enable", "delete"):
        result = run(env, "users", action, "ops@example.com")
        assert result.returncode == 0, (action, result.stderr)
    missing = run(env, "users", "disable", "ops@example.com")
    assert missing.returncode == 1
    assert "no such user" in missing.stderr


def test_creating_a_user_with_a_weak_password_says_why(env: dict[str, str]) -> None:
    assert run(env, "migrate").returncode == 0
    result = run(env, "users", "create", "ops@example.com", stdin="short\n")
    assert result.returncode == 1
    assert "at least 12" in result.stderr


def test_serve_refuses_an_out_of_date_schema(env: dict[str, str]) -> None:
    result = run(env, "serve", "--port", "1")
    assert result.returncode == 1
    assert "latchkey migrate" in result.stderr


@pytest.mark.parametrize(
    "command",
    [["clients", "list"], ["keys", "list"], ["users", "disable", "ops@example.com"]],
)
def test_every_database_command_names_an_unmigrated_schema(
    env: dict[str, str], command: list[str]
) -> None:
    # It said "the database is unavailable", which sends an operator the wrong way.
    result = run(env, *command)
    assert result.returncode == 1
    assert result.stderr == (
        "error: the database schema is out of date: run `latchkey migrate` first\n"
    )


def test_migrate_says_what_it_did(env: dict[str, str], tmp_path: Path) -> None:
    first, second = run(env, "migrate"), run(env, "migrate")

    assert (first.returncode, second.returncode) == (0, 0), first.stderr
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert first.stdout == f"the database is migrated from nothing to {head}\n"
    assert second.stdout == f"the database is already up to date ({head})\n"
    with sqlite3.connect(tmp_path / "cli.db") as db:  # what a later release leaves
        db.execute("UPDATE alembic_version SET version_num = 'from-a-later-release'")
    later = run(env, "migrate")
    assert (later.returncode, later.stdout) == (0, "")
    assert later.stderr == (
        f"warning: the database is at from-a-later-release, newer than this release ({head})\n"
    )


@pytest.mark.parametrize("url", ["not a url", "mysql://app:hunter2@127.0.0.1/x"])
def test_a_database_url_latchkey_cannot_use_is_one_error_line(
    env: dict[str, str], url: str
) -> None:
    for command in (["migrate"], ["clients", "list"]):
        result = run({**env, "LATCHKEY_DATABASE_URL": url}, *command)
        assert result.returncode == 1
        assert result.stderr.startswith("error: invalid settings: LATCHKEY_DATABASE_URL")
        assert "Traceback" not in result.stderr
        assert "hunter2" not in result.stderr


def test_a_password_on_stdin_that_is_no_utf_8_is_one_error_line(env: dict[str, str]) -> None:
    assert run(env, "migrate").returncode == 0
    result = subprocess.run(
        [LATCHKEY, "users", "create", "ops@example.com"],
        env=env,
        input=b"\xff\xfe not utf-8 at all, but long\n",
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr == b"error: the password is not valid UTF-8\n"


def test_production_refuses_to_start_without_its_secrets(env: dict[str, str]) -> None:
    result = run({**env, "LATCHKEY_ENV": "production"}, "serve")
    assert result.returncode != 0
    assert "LATCHKEY_ENV=production requires" in result.stderr


def test_serve_and_migrate_say_plainly_when_the_database_is_unreachable(
    env: dict[str, str],
) -> None:
    env = {**env, "LATCHKEY_DATABASE_URL": "postgresql+psycopg://app:hunter2@127.0.0.1:1/x"}
    for command in (["serve"], ["migrate"]):
        result = run(env, *command)
        assert result.returncode == 1
        assert "is unreachable" in result.stderr
        assert "Traceback" not in result.stderr
        assert "hunter2" not in result.stderr
