"""`latchkey clients` and `latchkey keys`, run as real processes."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import Api
from tests.e2e.oauth_requests import basic, password_grant, post
from tests.e2e.test_cli import env, run

__all__ = ["env"]  # the fixture, shared with test_cli.py


def test_a_client_is_created_with_a_secret_shown_once_listed_and_deleted(
    env: dict[str, str],
) -> None:
    assert run(env, "migrate").returncode == 0

    created = run(env, "clients", "create", "billing", "--json")
    assert created.returncode == 0, created.stderr
    credentials = json.loads(created.stdout)
    assert set(credentials) == {"client_id", "client_secret"}
    assert len(credentials["client_secret"]) >= 43  # 256 bits, base64url
    human = run(env, "clients", "create", "reports")
    assert "client_secret:" in human.stdout
    assert "cannot be shown again" in human.stderr

    listed = run(env, "clients", "list", "--json")
    rows = json.loads(listed.stdout)
    assert [r["name"] for r in rows] == ["billing", "reports"]
    assert credentials["client_secret"] not in listed.stdout
    assert rows[0]["client_id"] == credentials["client_id"]

    assert run(env, "clients", "delete", credentials["client_id"]).returncode == 0
    again = run(env, "clients", "delete", credentials["client_id"])
    assert again.returncode == 1
    assert "no such client" in again.stderr
    assert [r["name"] for r in json.loads(run(env, "clients", "list", "--json").stdout)] == [
        "reports"
    ]


def test_a_client_created_on_the_command_line_can_introspect(
    tmp_path: Path, env: dict[str, str], api: Api
) -> None:
    # The `api` fixture's database; the data directory (and so the hash key) is shared.
    cli_env = {**env, "LATCHKEY_DATABASE_URL": f"sqlite:///{tmp_path / 'e2e.db'}"}
    assert cli_env["LATCHKEY_DATA_DIR"] == str(api.container.settings().data_dir)
    api.signup()
    pair = password_grant(api)

    created = json.loads(run(cli_env, "clients", "create", "billing", "--json").stdout)
    credentials = basic(created["client_id"], created["client_secret"])

    response = post(api, "introspect", credentials, token=pair["access_token"])
    assert response.json()["active"] is True
    run(cli_env, "clients", "delete", created["client_id"])
    assert post(api, "introspect", credentials, token=pair["access_token"]).status_code == 401


def test_keys_are_rotated_and_listed_with_when_each_signs_and_leaves_the_jwks(
    env: dict[str, str],
) -> None:
    assert run(env, "migrate").returncode == 0
    env = {**env, "LATCHKEY_ACCESS_TOKEN_TTL": "600"}

    first = run(env, "keys", "rotate")  # no key yet: it signs at once
    second = run(env, "keys", "rotate")

    assert first.returncode == second.returncode == 0, first.stderr
    assert "new active key" in first.stdout
    assert "published; every instance signs with it from" in second.stdout
    keys = json.loads(run(env, "keys", "list", "--json").stdout)
    assert [k["status"] for k in keys] == ["pending", "active"]
    assert keys[0]["kid"] in second.stdout
    assert keys[1]["kid"] in first.stdout
    assert keys[0]["signs_from"] in second.stdout
    assert keys[0]["signs_from"] > keys[0]["created_at"]
    assert keys[1]["signs_from"] == keys[1]["created_at"]
    # The old key signs until the new one does, then stays for its tokens.
    assert keys[1]["in_jwks_until"] > keys[0]["signs_from"]
    assert keys[0]["in_jwks_until"] is None

    third = run(env, "keys", "rotate", "--now")

    assert "new active key" in third.stdout
    keys = json.loads(run(env, "keys", "list", "--json").stdout)
    assert [k["status"] for k in keys] == ["active", "retired", "retired"]
    table = run(env, "keys", "list").stdout.splitlines()
    header = ["KID", "ALG", "CREATED_AT", "SIGNS_FROM", "STATUS", "IN_JWKS_UNTIL"]
    assert table[0].split() == header
    assert len(table) == 4


def test_a_leaked_key_is_dropped_by_a_rotation_at_once(env: dict[str, str]) -> None:
    assert run(env, "migrate").returncode == 0
    assert run(env, "keys", "rotate").returncode == 0
    refused = run(env, "keys", "rotate", "--drop-old")  # nothing would sign meanwhile
    assert (refused.returncode, refused.stderr) == (
        1,
        "error: --drop-old needs --now: no key would sign until the new one does\n",
    )

    dropped = run(env, "keys", "rotate", "--now", "--drop-old")

    assert dropped.returncode == 0, dropped.stderr
    assert "the older keys are deleted: their tokens stop verifying" in dropped.stdout
    keys = json.loads(run(env, "keys", "list", "--json").stdout)
    assert [k["status"] for k in keys] == ["active"]
    assert keys[0]["kid"] in dropped.stdout


def test_production_needs_a_key_encryption_key_and_no_longer_a_signing_key(
    env: dict[str, str],
) -> None:
    production = {
        **env,
        "LATCHKEY_ENV": "production",
        "LATCHKEY_REFRESH_TOKEN_KEY": "r" * 32,
    }

    refused = run(production, "config")
    assert refused.returncode == 1
    assert "LATCHKEY_KEY_ENCRYPTION_KEY" in refused.stderr
    assert "LATCHKEY_SIGNING_KEY" not in refused.stderr

    short = run({**production, "LATCHKEY_KEY_ENCRYPTION_KEY": "too short"}, "config")
    assert short.returncode == 1
    assert "too short" not in short.stderr

    accepted = run({**production, "LATCHKEY_KEY_ENCRYPTION_KEY": "k" * 32}, "config")
    assert accepted.returncode == 0, accepted.stderr
    assert "LATCHKEY_KEY_ENCRYPTION_KEY=**********" in accepted.stdout


def test_serve_refuses_to_start_when_the_stored_keys_do_not_decrypt(env: dict[str, str]) -> None:
    env = {**env, "LATCHKEY_KEY_ENCRYPTION_KEY": "a" * 32}
    assert run(env, "migrate").returncode == 0
    assert run(env, "keys", "rotate").returncode == 0

    result = run({**env, "LATCHKEY_KEY_ENCRYPTION_KEY": "b" * 32}, "serve", "--port", "1")

    assert result.returncode == 1
    assert "LATCHKEY_KEY_ENCRYPTION_KEY is not the key it was stored with" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_key_encryption_key_is_replaced_by_resealing_under_the_new_one(
    env: dict[str, str],
) -> None:
    old = {**env, "LATCHKEY_KEY_ENCRYPTION_KEY": "a" * 32}
    new = {**env, "LATCHKEY_KEY_ENCRYPTION_KEY": "b" * 32}
    assert run(old, "migrate").returncode == 0
    assert run(old, "keys", "rotate").returncode == 0
    assert run(old, "keys", "rotate").returncode == 0

    wrong = run({**new, "LATCHKEY_OTHER_KEY_ENCRYPTION_KEY": "c" * 32}, "keys", "reseal")
    assert wrong.returncode == 1
    assert "does not decrypt" in wrong.stderr
    resealed = run({**new, "LATCHKEY_OTHER_KEY_ENCRYPTION_KEY": "a" * 32}, "keys", "reseal")
    assert resealed.returncode == 0, resealed.stderr
    assert "2 signing keys" in resealed.stdout

    # The old key no longer opens them: serve refuses it, as any wrong key.
    refused = run(old, "serve", "--port", "1")
    assert refused.returncode == 1
    assert "is not the key it was stored with" in refused.stderr
    assert "a" * 32 not in refused.stdout + refused.stderr + resealed.stdout + resealed.stderr
