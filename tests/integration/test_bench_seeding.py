"""The bench's bulk seeding (bench/database.py): the rows split over several
connections add up to exactly what was asked, every session with its token."""

from __future__ import annotations

import pytest

from adapters.sql.migrate import upgrade
from bench.database import BenchDatabase


@pytest.mark.parametrize("connections", [1, 2, 3])
def test_seeded_sessions_add_up_whatever_the_split(postgres_url: str, connections: int) -> None:
    # postgres_url only for its skip-or-fail when PostgreSQL is absent; the
    # bench makes (and drops) its own database on the same server.
    db = BenchDatabase()
    try:
        upgrade(db.url)
        db.seed_sessions(1001, "hash", sessions_per_user=4, connections=connections)
        with db.connect() as conn:
            row = conn.execute(
                """
                SELECT (SELECT count(*) FROM sessions),
                       (SELECT count(*) FROM refresh_tokens),
                       (SELECT count(DISTINCT session_id) FROM refresh_tokens t
                        JOIN sessions s ON s.id = t.session_id),
                       (SELECT count(*) FROM users),
                       (SELECT count(*) FROM sessions s
                        WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = s.user_id))
                """
            ).fetchone()
        assert row is not None
        sessions, tokens, sessions_with_token, users, orphans = (int(str(v)) for v in row)
        assert (sessions, tokens, sessions_with_token, orphans) == (1001, 1001, 1001, 0)
        # Four sessions per filler user within each connection's share.
        shares = [1001 // connections + (i < 1001 % connections) for i in range(connections)]
        assert users == sum(-(-share // 4) for share in shares)
    finally:
        db.drop()
