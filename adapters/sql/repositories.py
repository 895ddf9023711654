"""Repositories over one SQLAlchemy Connection; rows become domain objects here.

They satisfy the Protocols of application/ports.py structurally. They never
commit: the unit of work owns the transaction, or runs without one (autocommit).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    CTE,
    BindParameter,
    Column,
    ColumnElement,
    Connection,
    Row,
    Select,
    Table,
    bindparam,
    delete,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from adapters.sql.tables import refresh_tokens, sessions, users
from domain.errors import EmailTaken
from domain.session import RefreshToken, Session, check_first_token
from domain.user import Email, Profile, User


def savepoint(conn: Connection) -> AbstractContextManager[object]:
    """A savepoint around a statement that may fail, where one is needed.

    In a transaction it keeps the transaction usable after the failure
    (PostgreSQL aborts the whole transaction on any failed statement). In
    autocommit there is no transaction to keep, and no savepoint can be made.
    """
    if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        return nullcontext()
    return conn.begin_nested()


def _nothing() -> None:
    pass


class SqlUserRepository:
    def __init__(self, conn: Connection, on_revoke: Callable[[], None] = _nothing) -> None:
        self._conn = conn
        self._on_revoke = on_revoke

    def add(self, user: User) -> None:
        try:
            with savepoint(self._conn):
                self._conn.execute(_INSERT_USER, _user_values(user))
        except IntegrityError:
            if self._email_exists(user.email):
                raise EmailTaken("email is already registered") from None
            raise

    def get(self, user_id: UUID) -> User | None:
        row = self._conn.execute(_USER_BY_ID, {"p_key": user_id}).one_or_none()
        return _user(row) if row is not None else None

    def profiles(self, user_ids: Collection[UUID]) -> Sequence[Profile]:
        if not user_ids:
            return []
        rows = self._conn.execute(_PROFILES_BY_IDS, {"p_keys": list(user_ids)})
        return [
            Profile(id=row.id, email=Email(row.email), created_at=row.created_at) for row in rows
        ]

    def get_by_email(self, email: Email) -> User | None:
        row = self._conn.execute(_USER_BY_EMAIL, {"p_key": email.canonical}).one_or_none()
        return _user(row) if row is not None else None

    def update(self, user: User, *, was: User) -> bool:
        """Persists the mutable fields only (the email is fixed at sign-up), and
        only while the stored row is still `was`."""
        if user.id != was.id:
            raise ValueError("a user's update must be of the same user")
        params = {
            **_user_as_read(was),
            "p_new_password_hash": user.password_hash,
            "p_new_disabled_at": user.disabled_at,
        }
        return self._conn.execute(_UPDATE_USER, params).rowcount == 1

    def delete(self, user_id: UUID) -> None:
        # Explicit deletes rather than trusting ON DELETE CASCADE alone: a
        # SQLite connection without the foreign_keys pragma would leave orphans.
        self._on_revoke()
        owned = select(sessions.c.id).where(sessions.c.user_id == user_id)
        # Rows are locked in the order every other writer takes them: the user
        # (login, password change, disable, a self-deletion's compare-and-set),
        # then its sessions, then their tokens (a rotation: session, token).
        # Another order deadlocks against one of them.
        self._conn.execute(select(users.c.id).where(users.c.id == user_id).with_for_update())
        self._conn.execute(owned.with_for_update())
        self._conn.execute(delete(refresh_tokens).where(refresh_tokens.c.session_id.in_(owned)))
        self._conn.execute(delete(sessions).where(sessions.c.user_id == user_id))
        self._conn.execute(delete(users).where(users.c.id == user_id))

    def _email_exists(self, email: Email) -> bool:
        query = select(users.c.id).where(users.c.email_canonical == email.canonical)
        return self._conn.execute(query).first() is not None


class SqlSessionRepository:
    def __init__(self, conn: Connection, on_revoke: Callable[[], None] = _nothing) -> None:
        self._conn = conn
        # Told of every revocation, so that caches of live sessions forget at commit.
        self._on_revoke = on_revoke

    def add(self, session: Session) -> None:
        self._conn.execute(_INSERT_SESSION, _session_values(session))

    def get(self, session_id: UUID) -> Session | None:
        row = self._conn.execute(_SESSION_BY_ID, {"p_key": session_id}).one_or_none()
        return _session(row) if row is not None else None

    def get_many(self, session_ids: Collection[UUID]) -> Sequence[Session]:
        if not session_ids:
            return []
        rows = self._conn.execute(_SESSIONS_BY_IDS, {"p_keys": list(session_ids)})
        return [_session(row) for row in rows]

    def list_live(self, user_id: UUID, now: datetime) -> Sequence[Session]:
        query = (
            select(sessions)
            .where(
                sessions.c.user_id == user_id,
                sessions.c.revoked_at.is_(None),
                sessions.c.expires_at > now,
            )
            .order_by(sessions.c.created_at, sessions.c.id)
        )
        return [_session(row) for row in self._conn.execute(query)]

    def touch(self, session_id: UUID, now: datetime) -> None:
        self._conn.execute(
            update(sessions).where(sessions.c.id == session_id).values(last_used_at=now)
        )

    def revoke(self, session_id: UUID, now: datetime) -> None:
        self._revoke_where(now, sessions.c.id == session_id)

    def revoke_all(self, user_id: UUID, now: datetime, keep: UUID | None = None) -> None:
        kept = [sessions.c.id != keep] if keep is not None else []
        self._revoke_where(now, sessions.c.user_id == user_id, *kept)

    def revoke_for_client(self, client_id: str, now: datetime) -> None:
        self._revoke_where(now, sessions.c.client_id == client_id)

    def _revoke_where(self, now: datetime, *which: ColumnElement[bool]) -> None:
        """Revoke the live sessions matching `which`; a revoked one keeps its time."""
        self._on_revoke()
        statement = update(sessions).where(*which, sessions.c.revoked_at.is_(None))
        self._conn.execute(statement.values(revoked_at=now))

    def start(self, user: User, session: Session, first_token: RefreshToken) -> bool:
        check_first_token(user.id, session, first_token)
        if self._conn.dialect.name == "postgresql":
            params = {
                **_user_as_read(user),
                **{f"p_session_{n}": getattr(session, n) for n in _STARTED_SESSION_COLUMNS},
                **{f"p_token_{n}": getattr(first_token, n) for n in _SUCCESSOR_COLUMNS},
            }
            return self._conn.execute(_START, params).scalar_one() == 1
        # SQLite: its BEGIN IMMEDIATE already serializes writers; in process,
        # three statements cost no more than one.
        row = self._conn.execute(_USER_BY_ID, {"p_key": user.id}).one_or_none()
        if row is None or _user(row) != user:
            return False
        self._conn.execute(_INSERT_SESSION, _session_values(session))
        self._conn.execute(_INSERT_TOKEN, _token_values(first_token))
        return True


class SqlRefreshTokenRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, token: RefreshToken) -> None:
        self._conn.execute(_INSERT_TOKEN, _token_values(token))

    def get(self, token_id: UUID) -> RefreshToken | None:
        row = self._conn.execute(_TOKEN_BY_ID, {"p_key": token_id}).one_or_none()
        return _token(row) if row is not None else None

    def get_by_hash(self, token_hash: str) -> RefreshToken | None:
        query = select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash)
        row = self._conn.execute(query).one_or_none()
        return _token(row) if row is not None else None

    def get_with_session(self, token_hash: str) -> tuple[RefreshToken, Session] | None:
        row = self._conn.execute(_TOKEN_WITH_SESSION, {"p_token_hash": token_hash}).one_or_none()
        return (_token(row), _session(row)) if row is not None else None

    def rotate(
        self, token: RefreshToken, successor: RefreshToken, seal: bytes, now: datetime
    ) -> bool:
        # The conditional UPDATE is the whole compare-and-set: the row lock
        # (PostgreSQL) or the write lock (SQLite) lets only one caller match
        # `rotated_at IS NULL`; a loser re-checks after the winner commits.
        if not successor.is_fresh:
            raise ValueError("a successor is a fresh token")
        params = {
            "p_token_id": token.id,
            "p_session_id": token.session_id,
            "p_now": now,
            "p_seal": seal,
            **{f"p_new_{name}": getattr(successor, name) for name in _SUCCESSOR_COLUMNS},
        }
        if self._conn.dialect.name == "postgresql":
            return self._conn.execute(_ROTATION, params).scalar_one() == 1
        # SQLite cannot put an UPDATE in a WITH clause; it runs in process, so
        # the three statements cost no more than one.
        if self._conn.execute(_SPEND, params).rowcount != 1:
            return False
        self._conn.execute(_INSERT_SUCCESSOR, params)
        self._conn.execute(_TOUCH, params)
        return True


def _param(name: str, column: Column[Any]) -> BindParameter[Any]:
    return bindparam(name, type_=column.type)


# The statements of a login, a refresh and a cache miss, built once. Building a
# statement and its cache key on every call cost more CPU than the database
# spent running it (measured).
def _row_by(column: Column[Any]) -> Select[Any]:
    return select(column.table).where(column == _param("p_key", column))


def _rows_by(column: Column[Any]) -> Select[Any]:
    # An expanding IN: built and cached once by SQLAlchemy, rendered per call
    # with as many placeholders as keys.
    keys = bindparam("p_keys", type_=column.type, expanding=True)
    return select(column.table).where(column.in_(keys))


_USER_BY_ID = _row_by(users.c.id)
# Not the password hash: a profile has none, so it is not read at all.
_PROFILES_BY_IDS = _rows_by(users.c.id).with_only_columns(
    users.c.id, users.c.email, users.c.created_at
)
_SESSIONS_BY_IDS = _rows_by(sessions.c.id)
_USER_BY_EMAIL = _row_by(users.c.email_canonical)
_SESSION_BY_ID = _row_by(sessions.c.id)
_TOKEN_BY_ID = _row_by(refresh_tokens.c.id)
# The VALUES clause comes from the keys of the parameters, as for executemany.
_INSERT_USER = insert(users)
_INSERT_SESSION = insert(sessions)
_INSERT_TOKEN = insert(refresh_tokens)

_TOKEN_WITH_SESSION = (
    select(refresh_tokens, sessions)
    .join(sessions, sessions.c.id == refresh_tokens.c.session_id)
    .where(refresh_tokens.c.token_hash == bindparam("p_token_hash"))
)
# A successor is a fresh token: its rotation columns stay NULL.
_SUCCESSOR_COLUMNS = ("id", "session_id", "token_hash", "issued_at", "expires_at")


# The session is locked as the rotation's first step, in the mode its touch
# takes anyway (PostgreSQL; SQLite has no row locks and renders no clause): a
# revocation committed after the read makes the spend match nothing, and one
# that comes later waits for the rotation and then revokes its successor too.
_SESSION_NOT_REVOKED = exists(
    select(sessions.c.id)
    .where(sessions.c.id == bindparam("p_session_id"), sessions.c.revoked_at.is_(None))
    .with_for_update(key_share=True)
)
_SPEND = (
    update(refresh_tokens)
    .where(
        refresh_tokens.c.id == bindparam("p_token_id"),
        refresh_tokens.c.rotated_at.is_(None),
        _SESSION_NOT_REVOKED,
    )
    .values(
        rotated_at=_param("p_now", refresh_tokens.c.rotated_at),
        successor_id=_param("p_new_id", refresh_tokens.c.successor_id),
        successor_seal=_param("p_seal", refresh_tokens.c.successor_seal),
    )
)
_SUCCESSOR_VALUES = [_param(f"p_new_{n}", refresh_tokens.c[n]) for n in _SUCCESSOR_COLUMNS]
_INSERT_SUCCESSOR = insert(refresh_tokens).values(
    dict(zip(_SUCCESSOR_COLUMNS, _SUCCESSOR_VALUES, strict=True))
)
_TOUCH = (
    update(sessions)
    .where(sessions.c.id == bindparam("p_session_id"))
    .values(last_used_at=_param("p_now", sessions.c.last_used_at))
)


def _rotation_in_one_statement() -> Select[int]:
    """Spend, insert and touch in one round trip (data-modifying CTEs), for PostgreSQL.

    The insert and the touch are keyed on the rows the spend returns, so a
    lost compare-and-set writes nothing at all.
    """
    spent = _SPEND.returning(refresh_tokens.c.id).cte("spent")
    successor_row = select(*_SUCCESSOR_VALUES).select_from(spent)
    inserted = (
        insert(refresh_tokens).from_select(list(_SUCCESSOR_COLUMNS), successor_row).cte("inserted")
    )
    touched = _TOUCH.where(exists(select(spent.c.id))).cte("touched")
    # `inserted` and `touched` are not read by the final SELECT; PostgreSQL
    # runs every data-modifying CTE to completion anyway.
    return select(func.count()).select_from(spent).add_cte(inserted, touched)


_ROTATION = _rotation_in_one_statement()

_USER_COMPARED = ("id", "email", "password_hash", "created_at", "disabled_at")


def _user_unchanged() -> list[ColumnElement[bool]]:
    """The row still holds the user read before (bound by `_user_as_read`): the
    columns of a User, as `!=` of two Users compares them (email_canonical is
    derived)."""

    def same(column: Column[Any]) -> ColumnElement[bool]:
        value = _param(f"p_user_{column.name}", column)
        # `=` where it can be, so that the primary key's index finds the row.
        return column.is_not_distinct_from(value) if column.nullable else column == value

    return [same(users.c[name]) for name in _USER_COMPARED]


def _user_as_read(user: User) -> dict[str, Any]:
    return {f"p_user_{n}": v for n, v in _user_values(user).items() if n in _USER_COMPARED}


# A compare-and-set: a change read before another commit must not undo it (a
# password change that would enable again an account disabled meanwhile).
_UPDATE_USER = (
    update(users)
    .where(*_user_unchanged())
    .values(
        password_hash=_param("p_new_password_hash", users.c.password_hash),
        disabled_at=_param("p_new_disabled_at", users.c.disabled_at),
    )
)

# A started session is not revoked: its revoked_at stays NULL.
_STARTED_SESSION_COLUMNS = tuple(c.name for c in sessions.c if c.name != "revoked_at")


def _start_in_one_statement() -> Select[int]:
    """Lock the user if unchanged, insert the session, insert its first token: one
    round trip (data-modifying CTEs), for PostgreSQL.

    Each insert reads the rows of the step before, so a changed or deleted user
    writes nothing.
    """

    locked = select(users.c.id).where(*_user_unchanged()).with_for_update().cte("locked")

    def insert_from(table: Table, prefix: str, names: Sequence[str], source: CTE) -> CTE:
        # One row of bound values per row of `source`: none when it is empty.
        row = select(*(_param(f"{prefix}{n}", table.c[n]) for n in names)).select_from(source)
        inserted = insert(table).from_select(list(names), row).returning(table.c.id)
        return inserted.cte(f"inserted_{table.name}")

    started = insert_from(sessions, "p_session_", _STARTED_SESSION_COLUMNS, locked)
    first = insert_from(refresh_tokens, "p_token_", _SUCCESSOR_COLUMNS, started)
    return select(func.count()).select_from(first)


_START = _start_in_one_statement()


def _user_values(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email.value,
        "email_canonical": user.email.canonical,
        "password_hash": user.password_hash,
        "created_at": user.created_at,
        "disabled_at": user.disabled_at,
    }


def _user(row: Row[Any]) -> User:
    return User(
        id=row.id,
        email=Email(row.email),
        password_hash=row.password_hash,
        created_at=row.created_at,
        disabled_at=row.disabled_at,
    )


def _session_values(session: Session) -> dict[str, Any]:
    return {
        "id": session.id,
        "user_id": session.user_id,
        "client_id": session.client_id,
        "device_name": session.device_name,
        "created_at": session.created_at,
        "last_used_at": session.last_used_at,
        "expires_at": session.expires_at,
        "revoked_at": session.revoked_at,
    }


def _session(row: Row[Any]) -> Session:
    # Keyed by column, not by name: a row of a join holds two `id`s.
    m = row._mapping
    c = sessions.c
    return Session(
        id=m[c.id],
        user_id=m[c.user_id],
        client_id=m[c.client_id],
        device_name=m[c.device_name],
        created_at=m[c.created_at],
        last_used_at=m[c.last_used_at],
        expires_at=m[c.expires_at],
        revoked_at=m[c.revoked_at],
    )


def _token_values(token: RefreshToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "session_id": token.session_id,
        "token_hash": token.token_hash,
        "issued_at": token.issued_at,
        "expires_at": token.expires_at,
        "rotated_at": token.rotated_at,
        "successor_id": token.successor_id,
        "successor_seal": token.successor_seal,
    }


def _token(row: Row[Any]) -> RefreshToken:
    m = row._mapping
    c = refresh_tokens.c
    return RefreshToken(
        id=m[c.id],
        session_id=m[c.session_id],
        token_hash=m[c.token_hash],
        issued_at=m[c.issued_at],
        expires_at=m[c.expires_at],
        rotated_at=m[c.rotated_at],
        successor_id=m[c.successor_id],
        successor_seal=m[c.successor_seal],
    )
