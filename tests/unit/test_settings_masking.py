"""`latchkey config` and error messages show the database URL without its secrets."""

from __future__ import annotations

import pytest

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
