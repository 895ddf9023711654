"""Settings: what `latchkey config` (and errors naming the database) show, and the
second key-encryption key, used while the key-encryption key is replaced."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from entrypoints.settings import Settings


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://app:hunter2@db.internal/latchkey",
        "postgresql+psycopg://app@db.internal/latchkey?password=hunter2",
        "postgresql+psycopg://app@db.internal/latchkey?sslmode=verify-full&sslpassword=hunter2",
        "postgresql+psycopg://app@db.internal/latchkey?PASSWORD=hunter2&password=hunter2",
    ],
)
def test_no_password_of_a_database_url_is_shown(url: str) -> None:
    shown = str(Settings(database_url=url).masked()["LATCHKEY_DATABASE_URL"])

    assert "hunter2" not in shown
    assert shown.startswith("postgresql+psycopg://app")
    assert "db.internal/latchkey" in shown


def test_the_other_parameters_of_a_database_url_stay_readable() -> None:
    url = "postgresql+psycopg://app@db.internal/latchkey?sslmode=verify-full&password=hunter2"

    shown = str(Settings(database_url=url).masked()["LATCHKEY_DATABASE_URL"])

    assert "sslmode=verify-full" in shown


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "bogus://app:hunter2@db.internal/latchkey",
        "mysql://app:hunter2@db.internal/latchkey",
        "postgresql+asyncpg://app:hunter2@db.internal/latchkey",
    ],
)
def test_a_database_url_latchkey_cannot_use_is_refused_without_echoing_it(url: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(database_url=url)

    assert "database_url" in str(refused.value)
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
def test_a_postgresql_url_means_psycopg_3(scheme: str) -> None:
    settings = Settings(database_url=f"{scheme}://app:hunter2@db.internal:5433/latchkey")

    assert settings.effective_database_url == (
        "postgresql+psycopg://app:hunter2@db.internal:5433/latchkey"
    )


KEY, OTHER = "k" * 32, "o" * 32


def test_the_other_key_needs_a_key_encryption_key_given_explicitly() -> None:
    # Else a development key would be made up, and `keys reseal` would seal
    # every stored key under it, on one machine only.
    with pytest.raises(ValidationError, match="needs LATCHKEY_KEY_ENCRYPTION_KEY"):
        Settings(_env_file=None, other_key_encryption_key=OTHER)


def test_the_other_key_must_differ_from_the_key_encryption_key() -> None:
    with pytest.raises(ValidationError, match="must differ"):
        Settings(_env_file=None, key_encryption_key=KEY, other_key_encryption_key=KEY)


def test_both_keys_given_and_different_are_accepted_and_masked() -> None:
    settings = Settings(_env_file=None, key_encryption_key=KEY, other_key_encryption_key=OTHER)

    shown = settings.masked()

    assert shown["LATCHKEY_OTHER_KEY_ENCRYPTION_KEY"] == "**********"
    assert OTHER not in repr(shown)
