"""The bench's throwaway PostgreSQL database, its users, and bulk-seeded sessions.

Rows are written straight into the tables (COPY, INSERT … SELECT), never
through the API: seeding a million sessions through HTTP would take longer
than the whole benchmark may.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from datetime import UTC, datetime
from functools import partial
from uuid import uuid4

import psycopg
from psycopg import sql
from sqlalchemy import make_url

from domain.user import Email

ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_ADMIN_URL",
    os.environ.get(
        "LATCHKEY_TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    ),
)
PREFIX = "latchkey_bench_"
# One per core of the 2-core machine this was made for (more only queue).
SEED_CONNECTIONS = 2
SEEDED_TABLES = ("users", "sessions", "refresh_tokens")


def _in_parallel(steps: Sequence[Callable[[], None]]) -> None:
    """Each step in a thread of its own; the first error, if any, is raised."""
    with ThreadPoolExecutor(max_workers=max(1, len(steps))) as pool:
        for done in [pool.submit(step) for step in steps]:
            done.result()


class BenchDatabase:
    """One uniquely named database on the server of ADMIN_URL, dropped by `drop()`."""

    def __init__(self) -> None:
        self.name = f"{PREFIX}{uuid4().hex}"
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
        base = make_url(ADMIN_URL).set(database=self.name)
        # libpq's form for psycopg here, SQLAlchemy's for the service.
        self.dsn = base.set(drivername="postgresql").render_as_string(hide_password=False)
        self.url = base.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)

    def drop(self) -> None:
        if not self.name.startswith(PREFIX):  # only ever what __init__ made
            raise ValueError(f"refusing to drop {self.name!r}")
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            # FORCE ends the connections that the servers' pools still hold.
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name))
            )

    def connect(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.dsn, autocommit=True)

    def server_version(self) -> str:
        with self.connect() as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "?"

    def add_users(self, emails: Sequence[str], password_hash: str) -> None:
        """Users who all share one password hash (computed once by the caller)."""
        now = datetime.now(UTC)
        with self.connect() as conn, conn.cursor() as cur:
            copy_users = (
                "COPY users (id, email, email_canonical, password_hash, created_at) FROM STDIN"
            )
            with cur.copy(copy_users) as copy:
                for email in emails:
                    value = Email(email)  # the service's own canonical form
                    copy.write_row((uuid4(), value.value, value.canonical, password_hash, now))
            conn.execute("ANALYZE users")

    def count_sessions(self) -> int:
        with self.connect() as conn:
            row = conn.execute("SELECT count(*) FROM sessions").fetchone()
        return int(str(row[0])) if row else 0

    def clear_sessions(self) -> None:
        """No session and no refresh token left (users stay).

        Waits first for requests that a stopped load generator left in the
        server (their sessions would land after the truncation).
        """
        previous, deadline = -1, time.monotonic() + 15
        while time.monotonic() < deadline:
            current = self.count_sessions()
            if current == previous:
                break
            previous = current
            time.sleep(1)
        with self.connect() as conn:
            conn.execute("TRUNCATE sessions, refresh_tokens")
            conn.execute("ANALYZE sessions")
            conn.execute("ANALYZE refresh_tokens")

    def seed_sessions(
        self,
        count: int,
        password_hash: str,
        sessions_per_user: int = 4,
        connections: int = SEED_CONNECTIONS,
    ) -> None:
        """`count` live sessions, each with one live refresh token, of new filler users.

        Ids and token hashes are random like the service's own, so the indexes
        have the shape they would have in production. The rows are split over
        `connections` connections that insert at once: one backend fills one
        core, and on a slow machine a million sessions from one took most of a
        minute and a half of the ten that `make bench` may take.
        """
        if count <= 0:
            return
        shares = [count // connections + (i < count % connections) for i in range(connections)]
        seed = partial(self._seed_share, password_hash=password_hash, per_user=sessions_per_user)
        _in_parallel([partial(seed, share) for share in shares if share])
        _in_parallel([partial(self._vacuum, table) for table in SEEDED_TABLES])

    def _seed_share(self, count: int, *, password_hash: str, per_user: int) -> None:
        """Foreign keys are not checked row by row (`session_replication_role =
        replica`, superuser only): every row points at one made in the same statement."""
        users = -(-count // per_user)
        tag = uuid4().hex[:8]  # another share or a second seed must not collide on emails
        with self.connect() as conn:
            with suppress(psycopg.errors.InsufficientPrivilege):  # else slower, still right
                conn.execute("SET session_replication_role = replica")
            conn.execute("SET synchronous_commit = off")
            conn.execute(
                """
                CREATE TEMP TABLE filler_users AS
                SELECT i, gen_random_uuid() AS id FROM generate_series(0, %(users)s - 1) AS i
                """,
                {"users": users},
            )
            conn.execute(
                """
                INSERT INTO users (id, email, email_canonical, password_hash, created_at)
                SELECT id, 'filler-' || %(tag)s || '-' || i || '@example.com',
                       'filler-' || %(tag)s || '-' || i || '@example.com', %(hash)s, now()
                FROM filler_users
                """,
                {"tag": tag, "hash": password_hash},
            )
            conn.execute(
                """
                WITH new_sessions AS (
                    INSERT INTO sessions (id, user_id, client_id, device_name,
                                          created_at, last_used_at, expires_at)
                    SELECT gen_random_uuid(), u.id, 'latchkey', 'bench filler',
                           now() - interval '1 day', now() - interval '1 hour',
                           now() + interval '60 days'
                    FROM generate_series(0, %(count)s - 1) AS s
                    JOIN filler_users AS u ON u.i = s / %(per_user)s
                    RETURNING id, last_used_at
                )
                INSERT INTO refresh_tokens (id, session_id, token_hash, issued_at, expires_at)
                SELECT gen_random_uuid(), id, encode(sha256(uuid_send(gen_random_uuid())), 'hex'),
                       last_used_at, now() + interval '6 days'
                FROM new_sessions
                """,
                {"count": count, "per_user": per_user},
            )

    def _vacuum(self, table: str) -> None:
        with self.connect() as conn:
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(table)))
