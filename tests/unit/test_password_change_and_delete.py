"""Changing one's password and deleting one's own account."""

from __future__ import annotations

from dataclasses import replace

import pytest

from application.login import LogInCommand
from application.password import ChangePasswordCommand
from application.signup import SignUpCommand
from application.tokens import TokenPair
from domain.errors import (
    InvalidCredentials,
    InvalidRefreshToken,
    InvalidToken,
    PasswordPolicyViolation,
    TooManyRequests,
)
from tests.unit.conftest import PASSWORD, World

EMAIL = "alice@example.com"
NEW_PASSWORD = "a brand new passphrase"


def change(world: World, pair: TokenPair, current: str, new: str) -> None:
    world.change_password(
        world.principal(pair), ChangePasswordCommand(current_password=current, new_password=new)
    )


def can_log_in(world: World, password: str) -> bool:
    try:
        world.log_in(LogInCommand(email=EMAIL, password=password))
    except InvalidCredentials:
        return False
    return True


def refreshes(world: World, pair: TokenPair) -> bool:
    try:
        world.rotated(pair)
    except InvalidRefreshToken:
        return False
    return True


# -- change password -----------------------------------------------------------------


def test_changing_the_password_replaces_the_old_one(world: World) -> None:
    pair = world.logged_in(EMAIL, PASSWORD)

    change(world, pair, PASSWORD, NEW_PASSWORD)

    assert can_log_in(world, NEW_PASSWORD)
    assert not can_log_in(world, PASSWORD)


@pytest.mark.parametrize("meanwhile", ["disabled", "password changed"])
def test_a_password_change_does_not_undo_what_was_committed_while_it_hashed(
    world: World, meanwhile: str
) -> None:
    pair = world.logged_in(EMAIL, PASSWORD)
    world.logged_in(EMAIL, PASSWORD)  # another session, which a change would revoke
    user_id = world.principal(pair).user_id
    real_hash = world.hasher.hash

    def hash_while_the_account_changes(password: str) -> str:
        store = world.uow.store
        user = store.users[user_id]
        if meanwhile == "disabled":
            store.users[user_id] = replace(user, disabled_at=world.clock.now())
        else:
            store.users[user_id] = replace(user, password_hash=real_hash("changed elsewhere"))
        return real_hash(password)

    world.hasher.hash = hash_while_the_account_changes  # type: ignore[method-assign]

    # A disabled account's session is over; a password changed elsewhere
    # makes the one given no longer current (not the session's fault).
    expected = InvalidToken if meanwhile == "disabled" else InvalidCredentials
    with pytest.raises(expected):
        change(world, pair, PASSWORD, NEW_PASSWORD)

    after = world.stored_user(user_id)
    assert after.is_active is (meanwhile != "disabled")
    assert not world.hasher.verify(NEW_PASSWORD, after.password_hash)
    # Nothing of the change was written: no session was revoked by it.
    assert all(s.revoked_at is None for s in world.uow.store.sessions.values())


def test_changing_the_password_needs_the_current_one(world: World) -> None:
    pair = world.logged_in(EMAIL, PASSWORD)
    other = world.logged_in(EMAIL, PASSWORD)
    before = world.stored_user(pair.user_id).password_hash

    with pytest.raises(InvalidCredentials):
        change(world, pair, "a wrong current password", NEW_PASSWORD)

    assert world.stored_user(pair.user_id).password_hash == before
    assert refreshes(world, other)


def test_the_current_password_is_checked_exactly_as_typed(world: World) -> None:
    pair = world.logged_in(EMAIL, PASSWORD)

    with pytest.raises(InvalidCredentials):
        change(world, pair, f" {PASSWORD} ", NEW_PASSWORD)


@pytest.mark.parametrize(
    ("new_password", "reason"),
    [
        ("too short", "at least 12 characters"),
        ("x" * 1025, "at most 1024 characters"),
        ("password1234", "too common"),
        (EMAIL, "too common"),
    ],
)
def test_the_new_password_must_follow_the_rules(
    world: World, new_password: str, reason: str
) -> None:
    pair = world.logged_in(EMAIL, PASSWORD)
    other = world.logged_in(EMAIL, PASSWORD)
    before = world.stored_user(pair.user_id).password_hash

    with pytest.raises(PasswordPolicyViolation, match=reason):
        change(world, pair, PASSWORD, new_password)

    assert world.stored_user(pair.user_id).password_hash == before
    assert refreshes(world, other)


def test_changing_the_password_revokes_every_other_session_and_keeps_this_one(
    world: World,
) -> None:
    phone = world.logged_in(EMAIL, PASSWORD, device_name="phone")
    laptop = world.logged_in(EMAIL, PASSWORD, device_name="laptop")
    tablet = world.logged_in(EMAIL, PASSWORD, device_name="tablet")

    change(world, laptop, PASSWORD, NEW_PASSWORD)

    assert [world.session_is_revoked(p.session_id) for p in (phone, laptop, tablet)] == [
        True,
        False,
        True,
    ]
    for gone in (phone, tablet):
        with pytest.raises(InvalidToken):
            world.principal(gone)
        assert not refreshes(world, gone)
    assert world.principal(laptop).session_id == laptop.session_id
    assert refreshes(world, laptop)


def test_changing_the_password_leaves_other_users_alone(world: World) -> None:
    alice = world.logged_in(EMAIL, PASSWORD)
    bob = world.logged_in("bob@example.com", PASSWORD)

    change(world, alice, PASSWORD, NEW_PASSWORD)

    assert refreshes(world, bob)


def test_a_password_change_is_audited(world: World) -> None:
    pair = world.logged_in(EMAIL, PASSWORD)

    change(world, pair, PASSWORD, NEW_PASSWORD)

    assert world.audit.events[-1] == {
        "event": "password_changed",
        "user_id": pair.user_id,
        "session_id": pair.session_id,
    }
    assert all(NEW_PASSWORD not in repr(e) and PASSWORD not in repr(e) for e in world.audit.events)


# -- delete account ------------------------------------------------------------------


def test_deleting_the_account_needs_the_password(world: World) -> None:
    pair = world.logged_in(EMAIL, PASSWORD)

    with pytest.raises(InvalidCredentials):
        world.delete_account(world.principal(pair), "a wrong password!")

    assert pair.user_id in world.store.users
    assert refreshes(world, pair)


@pytest.mark.parametrize("meanwhile", ["disabled", "password changed"])
def test_an_account_deletion_does_not_go_through_what_was_committed_while_it_hashed(
    world: World, meanwhile: str
) -> None:
    # A thief with the old password asks to delete; while its hash runs the
    # owner changes the password (or an operator disables the account).
    pair = world.logged_in(EMAIL, PASSWORD)
    user_id = world.principal(pair).user_id
    real_verify = world.hasher.verify

    def verify_while_the_account_changes(password: str, password_hash: str) -> bool:
        store = world.uow.store
        user = store.users[user_id]
        if meanwhile == "disabled":
            store.users[user_id] = replace(user, disabled_at=world.clock.now())
        else:
            store.users[user_id] = replace(user, password_hash=world.hasher.hash("the owner's"))
        return real_verify(password, password_hash)

    world.hasher.verify = verify_while_the_account_changes  # type: ignore[method-assign]

    expected = InvalidToken if meanwhile == "disabled" else InvalidCredentials
    with pytest.raises(expected):
        world.delete_account(world.principal(pair), PASSWORD)

    assert user_id in world.store.users
    # Nothing of the deletion was written: the session and its token remain.
    assert [s.id for s in world.store.sessions.values()] == [pair.session_id]
    assert len(world.store.tokens) == 1


def test_deleting_the_account_removes_the_user_and_every_session(world: World) -> None:
    phone = world.logged_in(EMAIL, PASSWORD)
    laptop = world.logged_in(EMAIL, PASSWORD)
    world.rotated(phone)

    world.delete_account(world.principal(laptop), PASSWORD)

    assert world.store.users == {}
    assert world.store.sessions == {}
    assert world.store.tokens == {}
    for gone in (phone, laptop):
        with pytest.raises(InvalidToken):
            world.principal(gone)
        assert not refreshes(world, gone)
    assert not can_log_in(world, PASSWORD)


def test_deleting_an_account_leaves_other_users_alone(world: World) -> None:
    alice = world.logged_in(EMAIL, PASSWORD)
    bob = world.logged_in("bob@example.com", PASSWORD)

    world.delete_account(world.principal(alice), PASSWORD)

    assert set(world.store.users) == {bob.user_id}
    assert refreshes(world, bob)


def test_the_email_of_a_deleted_account_can_sign_up_again(world: World) -> None:
    pair = world.logged_in(EMAIL, PASSWORD)
    world.delete_account(world.principal(pair), PASSWORD)

    again = world.sign_up(SignUpCommand(email=EMAIL.upper(), password=NEW_PASSWORD))

    assert again.id != pair.user_id
    assert can_log_in(world, NEW_PASSWORD)
    assert not can_log_in(world, PASSWORD)


def test_an_account_deletion_is_audited(world: World) -> None:
    pair = world.logged_in(EMAIL, PASSWORD)

    world.delete_account(world.principal(pair), PASSWORD)

    assert world.audit.events[-1] == {
        "event": "account_deleted",
        "user_id": pair.user_id,
        "session_id": pair.session_id,
    }


def test_a_principal_of_a_deleted_account_can_neither_change_the_password_nor_delete(
    world: World,
) -> None:
    pair = world.logged_in(EMAIL, PASSWORD)
    principal = world.principal(pair)
    world.delete_account(principal, PASSWORD)

    with pytest.raises(InvalidToken):
        world.change_password(principal, ChangePasswordCommand(PASSWORD, NEW_PASSWORD))
    with pytest.raises(InvalidToken):
        world.delete_account(principal, PASSWORD)


def test_guessing_the_current_password_is_throttled_like_logging_in(world: World) -> None:
    pair = world.logged_in()
    for _ in range(world.throttle.max_failures):
        with pytest.raises(InvalidCredentials):
            change(world, pair, "not the password", NEW_PASSWORD)
    with pytest.raises(TooManyRequests):
        change(world, pair, PASSWORD, NEW_PASSWORD)
    with pytest.raises(TooManyRequests):
        world.delete_account(world.principal(pair), PASSWORD)


def test_a_right_current_password_clears_the_account_counter(world: World) -> None:
    pair = world.logged_in()
    with pytest.raises(InvalidCredentials):
        change(world, pair, "not the password", NEW_PASSWORD)
    change(world, pair, PASSWORD, NEW_PASSWORD)
    assert world.throttle.failures == {}


def test_wrong_current_passwords_and_the_throttle_after_them_are_audited(world: World) -> None:
    pair = world.logged_in()
    principal = world.principal(pair)
    who = {"user_id": principal.user_id, "session_id": principal.session_id}
    with pytest.raises(InvalidCredentials):
        change(world, pair, "not the password", NEW_PASSWORD)
    assert world.audit.events[-1] == {"event": "password_change_failed", **who}
    with pytest.raises(InvalidCredentials):
        world.delete_account(principal, "not the password")
    assert world.audit.events[-1] == {"event": "account_delete_failed", **who}
    for _ in range(world.throttle.max_failures):
        with pytest.raises((InvalidCredentials, TooManyRequests)):
            change(world, pair, "not the password", NEW_PASSWORD)

    with pytest.raises(TooManyRequests):
        world.delete_account(principal, PASSWORD)

    assert world.audit.events[-1] == {
        "event": "throttled",
        "action": "account_delete",
        "reason": "failures",
        **who,
    }
    assert all("not the password" not in repr(e) for e in world.audit.events)
