"""A new signing key is published before it signs: `signing_keys.signs_from`.

Expand-only: NULL (every key stored before) means it signed from its
`created_at`. A release before this one ignores the column, so while both run
side by side it signs with a new key at once, as it always did.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    with op.batch_alter_table("signing_keys") as batch:
        batch.add_column(sa.Column("signs_from", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # The release before signs with the newest unretired key: a key published
    # ahead then signs at once, as a rotation did in that release.
    with op.batch_alter_table("signing_keys") as batch:
        batch.drop_column("signs_from")
