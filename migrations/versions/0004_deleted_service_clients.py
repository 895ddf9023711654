"""Deleted service clients are kept, marked deleted, so that their id is never
taken again (by a public client, or by their sessions' refresh tokens).

Expand-only: a release before this one does not read the column; a client
deleted by this release has its secret hash emptied too, so that its secret
fails there as well.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    with op.batch_alter_table("service_clients") as batch:
        batch.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # The rows of deleted clients go too: a release before this one would read
    # them as live clients (with a secret that no longer matches).
    op.execute(sa.text("DELETE FROM service_clients WHERE deleted_at IS NOT NULL"))
    with op.batch_alter_table("service_clients") as batch:
        batch.drop_column("deleted_at")
