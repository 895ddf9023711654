"""The repository contract: every unit-of-work implementation (SQLite,
PostgreSQL, the in-memory fake) must pass each test here unchanged.

Concurrency (two instances adding a signing key at once) is shown on the SQL
backends only, in test_signing_key_store.py: the fake is single-threaded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from application.ports import UnitOfWork, UnitOfWorkFactory
from domain.client import DELETED_SECRET_HASH, ServiceClient
from domain.errors import EmailTaken
from domain.session import RefreshToken, Session
from domain.signing_key import SigningKeyRecord
from domain.user import Email, User

# Microseconds on purpose: both databases must keep them exactly.
T0 = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)


def a_user(email: str = "Ada@Example.com", **changes: object) -> User:
    user = User(id=uuid4(), email=Email(email), password_hash="hash$1", created_at=T0)
    return replace(user, **changes)  # type: ignore[arg-type]


def a_session(user: User, **changes: object) -> Session:
    session = Session(
        id=uuid4(),
        user_id=user.id,
        client_id="latchkey",
        device_name="laptop",
        created_at=T0,
        last_used_at=T0,
        expires_at=T0 + timedelta(days=90),
    )
    return replace(session, **changes)  # type: ignore[arg-type]


def a_token(session: Session, **changes: object) -> RefreshToken:
    token = RefreshToken(
        id=uuid4(),
        session_id=session.id,
        token_hash=uuid4().hex,
        issued_at=T0,
        expires_at=T0 + timedelta(days=7),
    )
    return replace(token, **changes)  # type: ignore[arg-type]


def saved(factory: UnitOfWorkFactory, *items: User | Session | RefreshToken) -> None:
    with factory() as uow:
        for item in items:
            if isinstance(item, User):
                uow.users.add(item)
            elif isinstance(item, Session):
                uow.sessions.add(item)
            else:
                uow.refresh_tokens.add(item)
        uow.commit()


# Users


def test_a_committed_user_reads_back_equal_by_id(uow_factory: UnitOfWorkFactory) -> None:
    user = a_user()
    saved(uow_factory, user)

    with uow_factory() as uow:
        assert uow.users.get(user.id) == user


def test_a_user_is_found_by_email_whatever_its_case(uow_factory: UnitOfWorkFactory) -> None:
    user = a_user("Ada@Example.com")
    saved(uow_factory, user)

    with uow_factory() as uow:
        found = uow.users.get_by_email(Email("aDA@exAMPLE.COM"))
        assert found is not None
        assert found.id == user.id
        assert found.email.value == "Ada@Example.com"


def test_unknown_ids_and_emails_read_as_none(uow_factory: UnitOfWorkFactory) -> None:
    with uow_factory() as uow:
        assert uow.users.get(uuid4()) is None
        assert uow.users.get_by_email(Email("nobody@example.com")) is None
        assert uow.sessions.get(uuid4()) is None
        assert uow.refresh_tokens.get(uuid4()) is None
        assert uow.refresh_tokens.get_by_hash("no such hash") is None


def test_an_email_differing_only_in_case_is_taken_and_the_transaction_stays_usable(
    uow_factory: UnitOfWorkFactory,
) -> None:
    first = a_user("ada@example.com")
    saved(uow_factory, first)
    other = a_user("grace@example.com")

    with uow_factory() as uow:
        with pytest.raises(EmailTaken):
            uow.users.add(a_user("ADA@example.com"))
        uow.users.add(other)
        uow.commit()

    with uow_factory() as uow:
        assert uow.users.get(first.id) == first
        assert uow.users.get(other.id) == other


def test_work_not_committed_is_rolled_back_on_exit(uow_factory: UnitOfWorkFactory) -> None:
    user = a_user()
    with uow_factory() as uow:
        uow.users.add(user)

    with uow_factory() as uow:
        assert uow.users.get(user.id) is None


def test_work_is_rolled_back_when_the_block_raises(uow_factory: UnitOfWorkFactory) -> None:
    user = a_user()

    def add_then_fail() -> None:
        with uow_factory() as uow:
            uow.users.add(user)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        add_then_fail()

    with uow_factory() as uow:
        assert uow.users.get(user.id) is None


def test_work_after_a_commit_needs_its_own_commit(uow_factory: UnitOfWorkFactory) -> None:
    kept, rolled_back, dropped = (a_user(f"{n}@example.com") for n in "abc")
    with uow_factory() as uow:
        uow.users.add(kept)
        uow.commit()
        uow.users.add(rolled_back)
        uow.rollback()
        uow.users.add(dropped)

    with uow_factory() as uow:
        assert uow.users.get(kept.id) == kept
        assert uow.users.get(rolled_back.id) is None
        assert uow.users.get(dropped.id) is None


def test_update_persists_a_new_password_hash_and_the_disabled_state(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = a_user()
    saved(uow_factory, user)
    changed = replace(user, password_hash="hash$2", disabled_at=T0 + timedelta(hours=1))

    with uow_factory() as uow:
        assert uow.users.update(changed, was=user)
        uow.commit()
    with uow_factory() as uow:
        assert uow.users.get(user.id) == changed

    with uow_factory() as uow:
        assert uow.users.update(replace(changed, disabled_at=None), was=changed)
        uow.commit()
    with uow_factory() as uow:
        reenabled = uow.users.get(user.id)
        assert reenabled is not None
        assert reenabled.is_active


@pytest.mark.parametrize(
    "meanwhile",
    [
        lambda user: replace(user, password_hash="hash$other"),
        lambda user: replace(user, disabled_at=T0 + timedelta(minutes=1)),
    ],
    ids=["password changed", "disabled"],
)
def test_an_update_over_a_user_changed_since_it_was_read_writes_nothing(
    uow_factory: UnitOfWorkFactory, meanwhile: Callable[[User], User]
) -> None:
    user = a_user()
    saved(uow_factory, user)
    committed = meanwhile(user)
    with uow_factory() as uow:
        assert uow.users.update(committed, was=user)
        uow.commit()

    with uow_factory() as uow:
        assert not uow.users.update(replace(user, password_hash="hash$stale"), was=user)
        uow.commit()
    with uow_factory() as uow:
        assert uow.users.get(user.id) == committed


def test_an_update_of_a_deleted_user_writes_nothing(uow_factory: UnitOfWorkFactory) -> None:
    user = a_user()
    saved(uow_factory, user)
    with uow_factory() as uow:
        uow.users.delete(user.id)
        uow.commit()

    with uow_factory() as uow:
        assert not uow.users.update(replace(user, password_hash="hash$2"), was=user)
        uow.commit()
    with uow_factory() as uow:
        assert uow.users.get(user.id) is None


def test_deleting_a_user_removes_its_sessions_and_tokens_and_frees_the_email(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user, bystander = a_user("ada@example.com"), a_user("grace@example.com")
    session, other_session = a_session(user), a_session(bystander)
    token, other_token = a_token(session), a_token(other_session)
    saved(uow_factory, user, bystander, session, other_session, token, other_token)

    with uow_factory() as uow:
        uow.users.delete(user.id)
        uow.commit()

    with uow_factory() as uow:
        assert uow.users.get(user.id) is None
        assert uow.sessions.get(session.id) is None
        assert uow.refresh_tokens.get(token.id) is None
        assert uow.sessions.get(other_session.id) == other_session
        assert uow.refresh_tokens.get(other_token.id) == other_token
        again = a_user("ADA@example.com")
        uow.users.add(again)
        uow.commit()
    with uow_factory() as uow:
        assert uow.users.get(again.id) == again


def test_profiles_are_read_many_at_once_leaving_unknown_ids_out(
    uow_factory: UnitOfWorkFactory,
) -> None:
    ada, bob, eve = a_user("ada@example.com"), a_user("bob@example.com"), a_user("eve@example.com")
    saved(uow_factory, ada, bob, eve)

    with uow_factory() as uow:
        found = uow.users.profiles([ada.id, uuid4(), eve.id, ada.id])
        assert sorted(found, key=lambda p: p.email.canonical) == [ada.profile(), eve.profile()]
        assert list(uow.users.profiles([])) == []


# Sessions


def test_a_session_reads_back_equal(uow_factory: UnitOfWorkFactory) -> None:
    user = a_user()
    session = a_session(user, device_name=None, client_id="cli-app")
    saved(uow_factory, user, session)

    with uow_factory() as uow:
        assert uow.sessions.get(session.id) == session


def test_sessions_are_read_many_at_once_leaving_unknown_ids_out(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = a_user()
    kept, revoked, other = a_session(user), a_session(user, revoked_at=T0), a_session(user)
    saved(uow_factory, user, kept, revoked, other)

    with uow_factory() as uow:
        found = uow.sessions.get_many({kept.id, revoked.id, uuid4()})
        assert sorted(found, key=lambda s: s.id) == sorted([kept, revoked], key=lambda s: s.id)
        assert list(uow.sessions.get_many(())) == []


def test_live_sessions_exclude_revoked_expired_and_other_users_oldest_first(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user, stranger = a_user("a@example.com"), a_user("b@example.com")
    now = T0 + timedelta(days=1)
    newer = a_session(user, created_at=T0 + timedelta(minutes=5))
    older = a_session(user, created_at=T0)
    revoked = a_session(user, revoked_at=T0 + timedelta(hours=1))
    expired = a_session(user, expires_at=now)
    foreign = a_session(stranger)
    saved(uow_factory, user, stranger, newer, older, revoked, expired, foreign)

    with uow_factory() as uow:
        assert [s.id for s in uow.sessions.list_live(user.id, now)] == [older.id, newer.id]


def test_touch_records_the_last_use(uow_factory: UnitOfWorkFactory) -> None:
    user = a_user()
    session = a_session(user)
    saved(uow_factory, user, session)
    later = T0 + timedelta(minutes=7)

    with uow_factory() as uow:
        uow.sessions.touch(session.id, later)
        uow.commit()

    with uow_factory() as uow:
        assert uow.sessions.get(session.id) == replace(session, last_used_at=later)


def test_revoking_a_session_twice_keeps_the_first_revocation_time(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = a_user()
    session = a_session(user)
    saved(uow_factory, user, session)
    first, second = T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)

    with uow_factory() as uow:
        uow.sessions.revoke(session.id, first)
        uow.sessions.revoke(session.id, second)
        uow.commit()

    with uow_factory() as uow:
        revoked = uow.sessions.get(session.id)
        assert revoked is not None
        assert revoked.revoked_at == first


def test_revoke_all_revokes_every_session_of_the_user_except_the_one_kept(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user, stranger = a_user("a@example.com"), a_user("b@example.com")
    kept, doomed, already = a_session(user), a_session(user), a_session(user, revoked_at=T0)
    foreign = a_session(stranger)
    saved(uow_factory, user, stranger, kept, doomed, already, foreign)
    now = T0 + timedelta(minutes=3)

    with uow_factory() as uow:
        uow.sessions.revoke_all(user.id, now, keep=kept.id)
        uow.commit()

    with uow_factory() as uow:
        assert uow.sessions.get(kept.id) == kept
        assert uow.sessions.get(doomed.id) == replace(doomed, revoked_at=now)
        assert uow.sessions.get(already.id) == already
        assert uow.sessions.get(foreign.id) == foreign
        uow.sessions.revoke_all(user.id, now)
        assert list(uow.sessions.list_live(user.id, now)) == []


# Refresh tokens


def test_a_refresh_token_is_found_by_id_and_by_hash(uow_factory: UnitOfWorkFactory) -> None:
    user = a_user()
    session = a_session(user)
    token = a_token(session, token_hash="a" * 64)
    saved(uow_factory, user, session, token)

    with uow_factory() as uow:
        assert uow.refresh_tokens.get(token.id) == token
        assert uow.refresh_tokens.get_by_hash("a" * 64) == token


def test_a_refresh_token_is_read_together_with_its_own_session(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = a_user()
    session, other_session = a_session(user), a_session(user, device_name="phone")
    token, other_token = a_token(session), a_token(other_session)
    saved(uow_factory, user, session, other_session, token, other_token)

    with uow_factory() as uow:
        assert uow.refresh_tokens.get_with_session(token.token_hash) == (token, session)
        assert uow.refresh_tokens.get_with_session(other_token.token_hash) == (
            other_token,
            other_session,
        )
        assert uow.refresh_tokens.get_with_session("no such hash") is None


def test_rotate_spends_a_token_once_inserts_its_successor_and_records_the_use(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = a_user()
    session = a_session(user)
    token = a_token(session)
    saved(uow_factory, user, session, token)
    now, later = T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)
    successor = a_token(session, issued_at=now, expires_at=now + timedelta(days=7))
    loser, late = a_token(session, issued_at=now), a_token(session, issued_at=later)

    with uow_factory() as uow:
        assert uow.refresh_tokens.rotate(token, successor, b"\x00seal\xff", now)
        assert not uow.refresh_tokens.rotate(token, loser, b"other", later)
        uow.commit()

    with uow_factory() as uow:
        assert not uow.refresh_tokens.rotate(token, late, b"late", later)
        uow.commit()

    with uow_factory() as uow:
        assert uow.refresh_tokens.get(token.id) == replace(
            token, rotated_at=now, successor_id=successor.id, successor_seal=b"\x00seal\xff"
        )
        assert uow.refresh_tokens.get_with_session(successor.token_hash) == (
            successor,
            replace(session, last_used_at=now),
        )
        for refused in (loser, late):
            assert uow.refresh_tokens.get(refused.id) is None
            assert uow.refresh_tokens.get_by_hash(refused.token_hash) is None


def test_rotating_an_unknown_token_writes_nothing(uow_factory: UnitOfWorkFactory) -> None:
    user = a_user()
    session = a_session(user)
    saved(uow_factory, user, session)
    never_stored, successor = a_token(session), a_token(session)

    with uow_factory() as uow:
        assert not uow.refresh_tokens.rotate(
            never_stored, successor, b"seal", T0 + timedelta(minutes=1)
        )
        uow.commit()

    with uow_factory() as uow:
        assert uow.refresh_tokens.get(successor.id) is None
        assert uow.sessions.get(session.id) == session


def test_a_token_of_a_session_revoked_since_it_was_read_is_not_rotated(
    uow_factory: UnitOfWorkFactory,
) -> None:
    # SECURITY.md 5: a logout that commits between a refresh's read and its
    # write must not be followed by a new pair for the session it ended.
    user = a_user()
    session = a_session(user)
    token = a_token(session)
    saved(uow_factory, user, session, token)
    now = T0 + timedelta(minutes=1)
    successor = a_token(session, issued_at=now, expires_at=now + timedelta(days=7))
    with uow_factory() as uow:
        read = uow.refresh_tokens.get_with_session(token.token_hash)
    with uow_factory() as uow:
        uow.sessions.revoke(session.id, now)
        uow.commit()

    assert read is not None
    with uow_factory() as uow:
        assert not uow.refresh_tokens.rotate(read[0], successor, b"seal", now)
        uow.commit()

    with uow_factory() as uow:
        assert uow.refresh_tokens.get(token.id) == token
        assert uow.refresh_tokens.get(successor.id) is None
        assert uow.sessions.get(session.id) == replace(session, revoked_at=now)


def test_datetimes_read_back_as_aware_utc_equal_to_what_was_stored(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = a_user(disabled_at=T0 + timedelta(seconds=1))
    session = a_session(user, revoked_at=T0 + timedelta(seconds=2))
    token = a_token(session, rotated_at=T0 + timedelta(seconds=3), successor_id=uuid4())
    saved(uow_factory, user, session, token)

    with uow_factory() as uow:
        read = [
            uow.users.get(user.id),
            uow.sessions.get(session.id),
            uow.refresh_tokens.get(token.id),
        ]
    stamps = [
        (getattr(obj, name), getattr(original, name))
        for obj, original in zip(read, [user, session, token], strict=True)
        for name in vars(original)
        if isinstance(getattr(original, name), datetime)
    ]
    assert len(stamps) == 2 + 4 + 3
    for value, expected in stamps:
        assert isinstance(value, datetime)
        assert value.utcoffset() == timedelta(0)
        assert value == expected


# Service clients


def a_client(name: str = "billing", **changes: object) -> ServiceClient:
    client = ServiceClient(id=str(uuid4()), name=name, secret_hash="f" * 64, created_at=T0)
    return replace(client, **changes)  # type: ignore[arg-type]


def test_a_client_reads_back_equal_and_the_list_is_oldest_first(
    uow_factory: UnitOfWorkFactory,
) -> None:
    newer = a_client("reports", created_at=T0 + timedelta(minutes=1))
    older = a_client("billing")
    with uow_factory() as uow:
        uow.clients.add(newer)
        uow.clients.add(older)
        uow.commit()

    with uow_factory() as uow:
        assert uow.clients.get(older.id) == older
        assert list(uow.clients.list_all()) == [older, newer]


def test_any_public_client_id_reads_as_no_registered_client(
    uow_factory: UnitOfWorkFactory,
) -> None:
    with uow_factory() as uow:
        for client_id in ("my-spa", "Mobile App 2.0", "x" * 255, str(uuid4())):
            assert uow.clients.get(client_id) is None


def test_deleting_a_client_says_whether_it_existed(uow_factory: UnitOfWorkFactory) -> None:
    doomed, kept = a_client("old"), a_client("new")
    with uow_factory() as uow:
        uow.clients.add(doomed)
        uow.clients.add(kept)
        uow.commit()

    now = T0 + timedelta(minutes=1)
    with uow_factory() as uow:
        assert uow.clients.delete(doomed.id, now)
        assert not uow.clients.delete(doomed.id, now)
        assert not uow.clients.delete("no such client", now)
        uow.commit()
    with uow_factory() as uow:
        # Kept, so that the id stays taken; its secret hash matches no secret.
        assert uow.clients.get(doomed.id) == replace(
            doomed, deleted_at=now, secret_hash=DELETED_SECRET_HASH
        )
        assert list(uow.clients.list_all()) == [kept]


def test_revoking_the_sessions_of_a_client_leaves_the_others_alone(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = a_user()
    of_client = a_session(user, client_id="svc-1")
    other = a_session(user, client_id="svc-2")
    revoked_before = a_session(user, client_id="svc-1", revoked_at=T0)
    saved(uow_factory, user, of_client, other, revoked_before)
    now = T0 + timedelta(minutes=1)

    with uow_factory() as uow:
        uow.sessions.revoke_for_client("svc-1", now)
        uow.commit()

    with uow_factory() as uow:
        assert uow.sessions.get(of_client.id) == replace(of_client, revoked_at=now)
        assert uow.sessions.get(other.id) == other
        assert uow.sessions.get(revoked_before.id) == revoked_before


# Signing keys


def a_key(generation: int, **changes: object) -> SigningKeyRecord:
    key = SigningKeyRecord(
        kid=f"kid-{generation}-{uuid4().hex[:8]}",
        alg="ES256",
        generation=generation,
        sealed_private_key=b"\x01sealed\x00\xff" + bytes([generation]),
        created_at=T0 + timedelta(days=generation),
    )
    return replace(key, **changes)  # type: ignore[arg-type]


def test_signing_keys_read_back_equal_in_generation_order(uow_factory: UnitOfWorkFactory) -> None:
    second = a_key(2, signs_from=T0 + timedelta(days=3))
    first = a_key(1, retired_at=T0 + timedelta(days=2))
    with uow_factory() as uow:
        assert uow.signing_keys.add(second)
        assert uow.signing_keys.add(first)
        uow.commit()

    with uow_factory() as uow:
        assert list(uow.signing_keys.list_all()) == [first, second]


def test_a_taken_generation_is_refused_and_the_transaction_stays_usable(
    uow_factory: UnitOfWorkFactory,
) -> None:
    winner, loser, later = a_key(1), a_key(1), a_key(2)
    with uow_factory() as uow:
        assert uow.signing_keys.add(winner)
        uow.commit()

    with uow_factory() as uow:
        assert not uow.signing_keys.add(loser)
        assert not uow.signing_keys.add(replace(later, kid=winner.kid))
        assert uow.signing_keys.add(later)
        uow.commit()
    with uow_factory() as uow:
        assert list(uow.signing_keys.list_all()) == [winner, later]


def test_retire_older_retires_the_keys_below_a_generation_only_and_never_later(
    uow_factory: UnitOfWorkFactory,
) -> None:
    at = T0 + timedelta(days=9)
    long_retired = a_key(1, retired_at=T0)
    due_later = a_key(2, retired_at=at + timedelta(minutes=5))  # a rotation overtaken
    active, newest = a_key(3), a_key(4, signs_from=at)
    with uow_factory() as uow:
        for key in (long_retired, due_later, active, newest):
            uow.signing_keys.add(key)
        uow.signing_keys.retire_older(4, at)
        uow.commit()

    with uow_factory() as uow:
        assert list(uow.signing_keys.list_all()) == [
            long_retired,
            replace(due_later, retired_at=at),
            replace(active, retired_at=at),
            newest,
        ]


def test_a_deleted_signing_key_is_gone(uow_factory: UnitOfWorkFactory) -> None:
    old, current = a_key(1, retired_at=T0), a_key(2)
    with uow_factory() as uow:
        uow.signing_keys.add(old)
        uow.signing_keys.add(current)
        uow.signing_keys.delete(old.kid)
        uow.commit()

    with uow_factory() as uow:
        assert list(uow.signing_keys.list_all()) == [current]


def test_start_adds_a_session_and_its_first_token_while_the_user_is_unchanged(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = a_user()
    saved(uow_factory, user)
    session = a_session(user, device_name=None)
    first = a_token(session)

    with uow_factory() as uow:
        assert uow.sessions.start(user, session, first)
        uow.commit()

    with uow_factory() as uow:
        assert uow.refresh_tokens.get_with_session(first.token_hash) == (first, session)


@pytest.mark.parametrize(
    "change",
    [
        lambda uow, user: uow.users.update(replace(user, password_hash="hash$2"), was=user),
        lambda uow, user: uow.users.update(
            replace(user, disabled_at=T0 + timedelta(minutes=1)), was=user
        ),
        lambda uow, user: uow.users.delete(user.id),
    ],
    ids=["password changed", "disabled", "deleted"],
)
def test_start_writes_nothing_once_the_user_has_changed_or_is_gone(
    uow_factory: UnitOfWorkFactory, change: Callable[[UnitOfWork, User], None]
) -> None:
    user = a_user()
    saved(uow_factory, user)
    with uow_factory() as uow:
        change(uow, user)
        uow.commit()
    session = a_session(user)
    first = a_token(session)

    with uow_factory() as uow:
        assert not uow.sessions.start(user, session, first)
        uow.commit()

    with uow_factory() as uow:
        assert uow.sessions.get(session.id) is None
        assert uow.refresh_tokens.get(first.id) is None


def test_start_refuses_a_session_that_is_not_fresh_or_not_the_users(
    uow_factory: UnitOfWorkFactory,
) -> None:
    user = a_user()
    saved(uow_factory, user)
    session = a_session(user)
    cases = [
        (replace(session, revoked_at=T0), a_token(session)),
        (a_session(a_user("other@example.com")), a_token(session)),
        (session, a_token(a_session(user))),
        (session, a_token(session, rotated_at=T0)),
    ]
    for bad_session, bad_token in cases:
        with uow_factory() as uow, pytest.raises(ValueError, match="fresh"):
            uow.sessions.start(user, bad_session, bad_token)
