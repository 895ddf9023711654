"""Alembic driven from code: no alembic.ini, the URL is passed in."""

from __future__ import annotations

from enum import Enum

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


class SchemaState(Enum):
    CURRENT = "current"
    BEHIND = "behind"  # this code has migrations that the database lacks
    AHEAD = "ahead"  # the database has a migration that this code does not know


def schema_state(engine: Engine) -> SchemaState:
    """Where the database stands against this code's migrations.

    A revision unknown here was applied by a later release: during a rolling
    upgrade (or a rollback) older instances run on the newer schema, which its
    expand-only migrations keep compatible (docs/deployment.md).
    """
    return state_of(*current_and_head(engine))


def state_of(current: str | None, head: str | None) -> SchemaState:
    """The state of a database at revision `current`, when this code's head is `head`."""
    if current == head:
        return SchemaState.CURRENT
    known = {
        script.revision for script in ScriptDirectory.from_config(_script_config()).walk_revisions()
    }
    return SchemaState.BEHIND if current is None or current in known else SchemaState.AHEAD


def _script_config() -> Config:
    config = Config()
    config.set_main_option("script_location", migrations.__path__[0])
    return config
