"""Sign up: an account from an email and a password."""

from __future__ import annotations

import pytest

from application.signup import SignUpCommand
from domain.errors import EmailTaken, InvalidEmail, PasswordPolicyViolation, TooManyRequests
from tests.fakes import T0
from tests.unit.conftest import PASSWORD, SIGNUP_BUDGET, World


def test_signing_up_stores_the_account_with_a_hash_of_the_password(world: World) -> None:
    user = world.sign_up(SignUpCommand(email="alice@example.com", password=PASSWORD))

    stored = world.stored_user(user.id)
    assert stored.email.value == "alice@example.com"
    assert stored.created_at == T0
    assert stored.is_active
    assert PASSWORD not in stored.password_hash
    assert world.hasher.verify(PASSWORD, stored.password_hash)


def test_the_email_is_kept_as_typed(world: World) -> None:
    user = world.sign_up(SignUpCommand(email="  Alice@Example.COM ", password=PASSWORD))

    assert world.stored_user(user.id).email.value == "Alice@Example.COM"


def test_an_email_cannot_sign_up_twice_whatever_its_case(world: World) -> None:
    world.registered("alice@example.com")

    with pytest.raises(EmailTaken):
        world.sign_up(SignUpCommand(email="ALICE@example.com", password=PASSWORD))
    assert len(world.store.users) == 1


def test_two_different_emails_make_two_accounts(world: World) -> None:
    alice = world.registered("alice@example.com")
    bob = world.registered("bob@example.com")

    assert alice.id != bob.id
    assert set(world.store.users) == {alice.id, bob.id}


def test_a_malformed_email_creates_no_account(world: World) -> None:
    with pytest.raises(InvalidEmail):
        world.sign_up(SignUpCommand(email="alice-at-example.com", password=PASSWORD))
    assert world.store.users == {}


@pytest.mark.parametrize(
    ("email", "password", "reason"),
    [
        ("alice@example.com", "short", "at least 12 characters"),
        ("alice@example.com", "x" * 1025, "at most 1024 characters"),
        ("alice@example.com", "password1234", "too common"),
        ("alice@example.com", "alice@example.com", "too common"),
        ("alice.wonderland@example.com", "alice.wonderland", "too common"),
    ],
)
def test_a_password_outside_the_rules_is_refused_with_its_reason(
    world: World, email: str, password: str, reason: str
) -> None:
    with pytest.raises(PasswordPolicyViolation, match=reason):
        world.sign_up(SignUpCommand(email=email, password=password))
    assert world.store.users == {}


def test_any_unicode_password_within_the_length_bounds_is_accepted(world: World) -> None:
    user = world.sign_up(SignUpCommand(email="alice@example.com", password="🔑ключ密码パスワード"))

    assert world.hasher.verify("🔑ключ密码パスワード", world.stored_user(user.id).password_hash)


def test_signing_up_is_audited_with_the_new_user_id(world: World) -> None:
    user = world.registered()

    assert world.audit.events == [{"event": "signup", "user_id": user.id, "session_id": None}]


def test_a_refused_sign_up_is_not_audited_as_a_sign_up(world: World) -> None:
    with pytest.raises(PasswordPolicyViolation):
        world.sign_up(SignUpCommand(email="alice@example.com", password="short"))

    assert "signup" not in world.audit.names()


def test_sign_ups_past_the_budget_of_an_ip_are_refused_before_any_account_is_made(
    world: World,
) -> None:
    for n in range(SIGNUP_BUDGET):
        world.sign_up(SignUpCommand(f"user{n}@example.com", PASSWORD, client_ip="192.0.2.7"))

    hashed: list[str] = []
    hash_password = world.hasher.hash

    def counting_hash(password: str) -> str:
        hashed.append(password)
        return hash_password(password)

    world.hasher.hash = counting_hash  # type: ignore[method-assign]
    # A weak password too: the budget answers first, before the rules and the hash.
    with pytest.raises(TooManyRequests):
        world.sign_up(SignUpCommand("late@example.com", "short", client_ip="192.0.2.7"))
    assert hashed == []
    assert "throttled" in world.audit.names()
    assert len(world.store.users) == SIGNUP_BUDGET
    world.sign_up(SignUpCommand("other@example.com", PASSWORD, client_ip="192.0.2.8"))
