"""Canonical emails fold Unicode case and normalization, and IDNA domains.

`users.email_canonical` is what uniqueness and login compare. It was the
address case-folded; it is now folded as Unicode compares without case
(NFD, casefold, NFC), with a punycode domain label ("xn--mnchen-3ya") read
in Unicode ("münchen"): domain/user.py, `Email.canonical`. An ASCII address
keeps its canonical form, so only rows with a non-ASCII character or an
"xn--" label are read here. The rule is copied below as it was when this
migration was written: a migration stays what it was (ARCHITECTURE.md: it
imports the adapters' tables only).

An address whose new form is already another user's (one mailbox registered
twice, once in each spelling) keeps its old form and is named in a warning:
an operator decides which account stays.

Downgrading leaves the new forms: the older release only misses those rows'
logins by a spelling it no longer folds.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import codecs
import logging
import unicodedata
from uuid import UUID

import sqlalchemy as sa
from alembic import op

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
    canonical = users.c.email_canonical
    if connection.dialect.name == "postgresql":
        non_ascii = sa.func.octet_length(canonical) != sa.func.char_length(canonical)
    else:  # SQLite: a BLOB's length counts bytes, a text's characters
        non_ascii = sa.func.length(sa.cast(canonical, sa.LargeBinary)) != sa.func.length(canonical)
    candidates = sa.select(users.c.id, users.c.email, canonical).where(
        sa.or_(non_ascii, canonical.like("%xn--%"))
    )
    changed: dict[UUID, str] = {}
    for user_id, email, stored in connection.execute(candidates):
        new = _canonical(email)
        if new != stored:
            changed[user_id] = new
    for user_id, new in changed.items():
        taken = connection.execute(sa.select(users.c.id).where(canonical == new)).first()
        if taken is not None:
            log.warning(
                "user %s keeps its old canonical email: user %s has the same address",
                user_id,
                taken[0],
            )
            continue
        connection.execute(users.update().where(users.c.id == user_id).values(email_canonical=new))


def downgrade() -> None:
    pass


# The rule of domain/user.py on 2026-11-27.


def _canonical(email: str) -> str:
    local, _, domain = email.strip().rpartition("@")
    labels = (_unicode_label(label) for label in _folded(domain).split("."))
    return f"{_folded(local)}@{'.'.join(_folded(label) for label in labels)}"


def _folded(text: str) -> str:
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).casefold())


def _unicode_label(label: str) -> str:
    if not label.startswith("xn--"):
        return label
    try:
        decoded = str(codecs.decode(label[4:].encode("ascii"), "punycode"))
        encoded = codecs.encode(decoded, "punycode").decode("ascii")
    except (UnicodeError, ValueError):
        return label
    if decoded.isascii() or encoded != label[4:]:
        return label
    return decoded
