"""Operator actions: disable, enable and delete accounts."""

from __future__ import annotations

from dataclasses import replace

import pytest

from application.login import LogInCommand
from application.signup import SignUpCommand
from domain.errors import InvalidCredentials, InvalidEmail, InvalidRefreshToken, UserNotFound
from domain.user import Email, User
from tests.fakes import FakeUserRepository
from tests.unit.conftest import PASSWORD, World

EMAIL = "alice@example.com"


def can_log_in(world: World, email: str = EMAIL) -> bool:
    try:
        world.log_in(LogInCommand(email=email, password=PASSWORD))
    except InvalidCredentials:
        return False
    return True


def test_disabling_a_user_marks_it_disabled_and_revokes_every_session(world: World) -> None:
    phone = world.logged_in(EMAIL)
    laptop = world.logged_in(EMAIL)
    world.clock.advance(60)

    user = world.manage_users.disable(EMAIL)

    assert world.stored_user(user.id).disabled_at == world.clock.now()
    assert not world.stored_user(user.id).is_active
    assert all(world.session_is_revoked(p.session_id) for p in (phone, laptop))
    for pair in (phone, laptop):
        with pytest.raises(InvalidRefreshToken):
            world.rotated(pair)


def test_a_disabled_user_cannot_log_in(world: World) -> None:
    world.registered(EMAIL)

    world.manage_users.disable(EMAIL)

    assert not can_log_in(world)


def test_disabling_twice_keeps_the_first_disable_time(world: World) -> None:
    world.registered(EMAIL)
    first = world.manage_users.disable(EMAIL)
    world.clock.advance(60)

    second = world.manage_users.disable(EMAIL)

    assert second.disabled_at == first.disabled_at
    assert world.stored_user(first.id).disabled_at == first.disabled_at


def test_disabling_a_user_leaves_other_users_alone(world: World) -> None:
    world.registered(EMAIL)
    bob = world.logged_in("bob@example.com")

    world.manage_users.disable(EMAIL)

    assert world.stored_user(bob.user_id).is_active
    assert not world.session_is_revoked(bob.session_id)


def test_enabling_a_disabled_user_lets_it_log_in_again(world: World) -> None:
    world.registered(EMAIL)
    world.manage_users.disable(EMAIL)

    user = world.manage_users.enable(EMAIL)

    assert world.stored_user(user.id).is_active
    assert can_log_in(world)


def test_the_operator_names_users_by_email_in_any_case(world: World) -> None:
    user = world.registered(EMAIL)

    assert world.manage_users.disable("  ALICE@Example.com").id == user.id
    assert not world.stored_user(user.id).is_active


def test_deleting_a_user_removes_it_with_every_session(world: World) -> None:
    pair = world.logged_in(EMAIL)

    user = world.manage_users.delete(EMAIL)

    assert user.id == pair.user_id
    assert world.store.users == {}
    assert world.store.sessions == {}
    assert world.store.tokens == {}
    with pytest.raises(InvalidRefreshToken):
        world.rotated(pair)
    assert not can_log_in(world)


def test_the_email_of_a_user_deleted_by_an_operator_can_sign_up_again(world: World) -> None:
    old = world.registered(EMAIL)
    world.manage_users.delete(EMAIL)

    new = world.sign_up(SignUpCommand(email=EMAIL, password=PASSWORD))

    assert new.id != old.id
    assert can_log_in(world)


@pytest.mark.parametrize("action", ["disable", "enable", "delete"])
def test_an_unknown_user_is_reported_as_not_found(world: World, action: str) -> None:
    world.registered(EMAIL)

    with pytest.raises(UserNotFound):
        getattr(world.manage_users, action)("nobody@example.com")

    assert world.user_by_email(EMAIL) is not None


def test_a_malformed_email_is_refused_by_operator_actions(world: World) -> None:
    with pytest.raises(InvalidEmail):
        world.manage_users.disable("not-an-email")


def test_operator_actions_are_audited(world: World) -> None:
    user = world.registered(EMAIL)

    world.manage_users.disable(EMAIL)
    world.manage_users.enable(EMAIL)
    world.manage_users.delete(EMAIL)

    assert world.audit.events[-3:] == [
        {"event": "user_disabled", "user_id": user.id, "session_id": None},
        {"event": "user_enabled", "user_id": user.id, "session_id": None},
        {"event": "user_deleted", "user_id": user.id, "session_id": None},
    ]


@pytest.mark.parametrize("action", ["disable", "enable"])
def test_a_password_change_committed_after_the_read_is_not_undone(
    world: World, action: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = world.registered(EMAIL)
    if action == "enable":
        user = world.manage_users.disable(EMAIL)
    changed = replace(user, password_hash=world.hasher.hash("changed meanwhile"))
    read = FakeUserRepository.get_by_email

    def read_then_the_password_changes(self: FakeUserRepository, email: Email) -> User | None:
        found = read(self, email)
        monkeypatch.setattr(FakeUserRepository, "get_by_email", read)  # once
        # Committed by another unit between this read and the write after it.
        self._s.users[user.id] = changed
        return found

    monkeypatch.setattr(FakeUserRepository, "get_by_email", read_then_the_password_changes)

    getattr(world.manage_users, action)(EMAIL)

    stored = world.stored_user(user.id)
    assert stored.password_hash == changed.password_hash
    assert stored.is_active is (action == "enable")
