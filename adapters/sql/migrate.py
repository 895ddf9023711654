"""Alembic driven from code: no alembic.ini, the URL is passed in."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

import migrations


def alembic_config(url: str) -> Config:
    config = _script_config()
    # The Config is a ConfigParser: a literal "%" (URL-encoded password) must be doubled.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str) -> None:
    command.upgrade(alembic_config(url), "head")


def current_and_head(engine: Engine) -> tuple[str | None, str | None]:
    head = ScriptDirectory.from_config(_script_config()).get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return current, head


def is_up_to_date(engine: Engine) -> bool:
    current, head = current_and_head(engine)
    return current == head


def _script_config() -> Config:
    config = Config()
    config.set_main_option("script_location", migrations.__path__[0])
    return config
