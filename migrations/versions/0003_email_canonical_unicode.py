"""Canonical emails fold IDNA domains and Unicode normalization.

`users.email_canonical` is derived from `users.email` by `Email.canonical`,
which now also composes accents (NFC) and reads a punycode domain label
("xn--mnchen-3ya") in Unicode ("münchen"). An ASCII address keeps its
canonical form, and so does every address that sign-up stored (its validation
already composed accents and spelled domains in Unicode); an address typed
otherwise through `latchkey users create` gets its new form here, so that its
user can still log in. A derived column follows the rule of the code that
derives it, so this data migration calls it rather than freezing a copy.

An address whose new form is already another user's (the same mailbox
registered twice, once in each spelling) keeps its old form and is named in a
warning: an operator decides which account stays.

Downgrading leaves the new forms: the older release only misses those rows'
logins by a spelling it no longer folds.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import logging
from uuid import UUID

import sqlalchemy as sa
from alembic import op

from domain.errors import InvalidEmail
from domain.user import Email

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None

log = logging.getLogger("alembic.runtime.migration")

users = sa.table(
    "users",
    sa.column("id", sa.Uuid()),
    sa.column("email", sa.String()),
    sa.column("email_canonical", sa.String()),
)


def upgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.select(users.c.id, users.c.email, users.c.email_canonical))
    changed: dict[UUID, str] = {}
    for user_id, email, stored in rows:
        try:
            canonical = Email(email).canonical
        except InvalidEmail:
            continue  # not ours to judge here
        if canonical != stored:
            changed[user_id] = canonical
    for user_id, canonical in changed.items():
        taken = connection.execute(
            sa.select(users.c.id).where(users.c.email_canonical == canonical)
        ).first()
        if taken is not None:
            log.warning(
                "user %s keeps its old canonical email: user %s has the same address",
                user_id,
                taken[0],
            )
            continue
        connection.execute(
            users.update().where(users.c.id == user_id).values(email_canonical=canonical)
        )


def downgrade() -> None:
    pass
