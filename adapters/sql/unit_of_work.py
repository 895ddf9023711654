"""The SQL unit of work: one connection and one transaction (or autocommit) per use."""

from __future__ import annotations

import contextlib
import logging
from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine
from sqlalchemy import exc as sa_exc

from adapters.caches import RevocationEpoch
from adapters.io_guard import allow_io
from adapters.sql.clients_and_keys import SqlClientRepository, SqlSigningKeyRepository
from adapters.sql.repositories import (
    SqlRefreshTokenRepository,
    SqlSessionRepository,
    SqlUserRepository,
)
from adapters.sql.revocation_notices import NOTICE, notice_payload
from application.ports import (
    ClientRepository,
    RefreshTokenRepository,
    SessionRepository,
    SigningKeyRepository,
    UserRepository,
)
from domain.errors import InvalidInput, ServiceUnavailable

log = logging.getLogger(__name__)

# Unreachable server, dropped connection, statement or lock timeout, exhausted
# pool: the request cannot be served now, which is not a bug in the request.
_UNAVAILABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)


def _unavailable(error: BaseException) -> ServiceUnavailable:
    # Only the class name is logged: a driver message may quote SQL or data.
    cause = getattr(error, "orig", None) or error
    log.warning("database unavailable: %s", type(cause).__name__)
    return ServiceUnavailable("the database is unavailable")


class SqlUnitOfWork:
    """Rolls back on exit unless `commit()` was called (but see autocommit below);
    never shared between requests.

    After `commit()` the unit of work stays usable: the next statement begins a
    fresh transaction.

    With `autocommit=True` on PostgreSQL, each statement commits as it runs
    (the driver's autocommit), and nothing is rolled back: under READ COMMITTED
    a transaction adds nothing to reads or to a single write, and skipping it
    saves two of a refresh's four round trips. SQLite keeps its transaction: it
    costs no round trip, and its rotation is three statements that must commit
    together.
    """

    users: UserRepository
    sessions: SessionRepository
    refresh_tokens: RefreshTokenRepository
    clients: ClientRepository
    signing_keys: SigningKeyRepository

    def __init__(
        self,
        engine: Engine,
        revocations: RevocationEpoch | None = None,
        *,
        autocommit: bool = False,
    ) -> None:
        self._engine = engine
        self._autocommit = autocommit and engine.dialect.name == "postgresql"
        self._conn: Connection | None = None
        self._revocations = revocations
        self._revoked = False

    def __enter__(self) -> Self:
        allow_io()
        try:
            conn = self._engine.connect()
        except _UNAVAILABLE as error:
            raise _unavailable(error) from None
        try:
            if self._autocommit:
                # Client side only: psycopg sends no BEGIN, and commit and
                # rollback then send nothing either.
                conn.execution_options(isolation_level="AUTOCOMMIT")
            else:
                # Begun eagerly: on SQLite this takes the write lock (BEGIN IMMEDIATE)
                # before anything is read, which serializes read-then-write requests.
                conn.begin()
        except _UNAVAILABLE as error:
            conn.close()
            raise _unavailable(error) from None
        except BaseException:
            conn.close()  # back to the pool, whatever went wrong
            raise
        self._conn = conn
        self.users = SqlUserRepository(conn, self._note_revocation)
        self.sessions = SqlSessionRepository(conn, self._note_revocation)
        self.refresh_tokens = SqlRefreshTokenRepository(conn)
        self.clients = SqlClientRepository(conn)
        self.signing_keys = SqlSigningKeyRepository(conn)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self._conn = self._conn, None
        # Committed as it ran, even if `commit()` was never reached.
        committed_revocation = self._autocommit and self._revoked
        if conn is not None:
            try:
                conn.rollback()
            except _UNAVAILABLE:
                # Nothing uncommitted can survive a broken connection anyway;
                # the pool discards it.
                pass
            else:
                # Not over a connection that died with the statement: reconnecting
                # would only add a connect timeout to the 503 of an outage.
                if committed_revocation and not conn.invalidated:
                    self._announce_committed(conn)
            finally:
                conn.close()
        if committed_revocation:
            self._bump_revocations()
        if isinstance(exc, _UNAVAILABLE):
            raise _unavailable(exc) from None
        if isinstance(exc, sa_exc.DataError):
            # A value the database cannot store (a NUL byte in text): bad input, not a bug.
            raise InvalidInput("a value contains characters that cannot be stored") from None
        if isinstance(exc, sa_exc.IntegrityError):
            # A row this transaction relied on vanished meanwhile (a user deleted
            # during its own refresh): nothing was written; a retry gets a clean answer.
            raise _unavailable(exc) from None

    def commit(self) -> None:
        conn = self._connection()
        revoked = self._revoked
        try:
            if revoked and not self._autocommit:
                # Inside the transaction: PostgreSQL delivers the notice with
                # the commit, or not at all.
                self._notify(conn)
            conn.commit()
        except _UNAVAILABLE as error:
            raise _unavailable(error) from None
        finally:
            if revoked:
                # Even when the commit's answer was lost: it may have gone
                # through, and this process ignores its own notices.
                self._bump_revocations()
        if revoked and self._autocommit:
            self._announce_committed(conn)

    def _notify(self, conn: Connection) -> None:
        """Tell the other processes (revocation_notices.py). No notices on
        SQLite: other processes on the same file see the revocation within
        their cache's second."""
        if conn.dialect.name == "postgresql":
            conn.execute(NOTICE, {"payload": notice_payload(self._revocations)})

    def _announce_committed(self, conn: Connection) -> None:
        """The notice of revocations that autocommit statements committed as they
        ran: a notice sent before one of them could let another process reread
        the session still live. It goes after them, on its own."""
        try:
            self._notify(conn)
            conn.commit()
        except (sa_exc.DBAPIError, sa_exc.TimeoutError, sa_exc.PendingRollbackError) as error:
            # The revocation stands; the others see it within their cache's second.
            log.warning("revocation notice not sent: %s", type(error).__name__)
            if conn.invalidated:
                # Its connection died. Not replaced here: that could hold the
                # answer for a connect timeout in an outage, and the new one
                # would not be in autocommit. The unit is finished: any further
                # statement fails loudly (a closed connection).
                self._conn = None
                conn.close()
                return
            with contextlib.suppress(sa_exc.SQLAlchemyError):
                conn.rollback()  # the unit stays usable after its commit

    def _bump_revocations(self) -> None:
        # After the commit: a cache refilled before it would hold the old answer.
        if self._revocations is not None:
            self._revocations.bump()
        self._revoked = False

    def _note_revocation(self) -> None:
        self._revoked = True

    def rollback(self) -> None:
        try:
            self._connection().rollback()
        except _UNAVAILABLE as error:
            raise _unavailable(error) from None

    def _connection(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("unit of work used outside its `with` block")
        return self._conn
