"""Log in: email and password in, a session and a token pair out."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest

from application.login import LogInCommand
from domain.errors import InvalidCredentials, InvalidInput, TooManyRequests
from tests.fakes import T0
from tests.unit.conftest import ACCESS_TTL, IDLE_TTL, PASSWORD, World

EMAIL = "alice@example.com"


def attempt(
    world: World, email: str = EMAIL, password: str = PASSWORD, ip: str | None = None
) -> None:
    world.log_in(LogInCommand(email=email, password=password, client_ip=ip))


def failed(world: World, email: str = EMAIL, ip: str | None = None) -> None:
    with pytest.raises(InvalidCredentials):
        attempt(world, email, "not the password", ip)


def test_logging_in_starts_a_session_and_hands_out_a_pair(world: World) -> None:
    user = world.registered()

    pair = world.log_in(LogInCommand(email=EMAIL, password=PASSWORD))

    session = world.stored_session(pair.session_id)
    assert session.user_id == user.id == pair.user_id
    assert session.created_at == session.last_used_at == T0
    assert session.revoked_at is None
    assert pair.expires_in == ACCESS_TTL
    assert pair.refresh_token_expires_in == IDLE_TTL
    assert world.principal(pair).session_id == session.id


def test_the_refresh_token_is_stored_only_as_a_keyed_hash(world: World) -> None:
    pair = world.logged_in()

    stored = world.stored_token(pair.refresh_token)
    assert stored is not None
    assert stored.session_id == pair.session_id
    assert stored.token_hash != pair.refresh_token
    assert not stored.is_spent
    assert all(pair.refresh_token not in repr(t) for t in world.store.tokens.values())


def test_the_email_of_a_login_is_case_insensitive(world: World) -> None:
    user = world.registered("alice@example.com")

    pair = world.log_in(LogInCommand(email="  ALICE@Example.com", password=PASSWORD))

    assert pair.user_id == user.id


def test_every_login_starts_its_own_session(world: World) -> None:
    first = world.logged_in()
    second = world.logged_in()

    assert first.session_id != second.session_id
    assert first.refresh_token != second.refresh_token
    assert len(world.store.sessions) == 2


def test_the_session_keeps_the_client_id_and_the_device_name(world: World) -> None:
    pair = world.logged_in(client_id="mobile-app", device_name="Alice's phone")

    session = world.stored_session(pair.session_id)
    assert session.client_id == "mobile-app"
    assert session.device_name == "Alice's phone"
    assert world.principal(pair).claims.client_id == "mobile-app"
    assert world.principal(world.rotated(pair)).claims.client_id == "mobile-app"


def test_an_unreadable_device_name_is_refused_before_the_password_is_checked(
    world: World,
) -> None:
    world.registered()
    world.hasher.during_verify = lambda: pytest.fail("the password was checked")

    # Wrong password or right, the same answer: it must not tell them apart.
    for password in (PASSWORD, "a wrong password"):
        with pytest.raises(InvalidInput, match="device_name"):
            world.logged_in(password=password, device_name="phone\x1b[2J")

    assert world.store.sessions == {}
    assert world.throttle.journal == []


def test_a_login_that_names_no_client_belongs_to_latchkey(world: World) -> None:
    pair = world.logged_in()

    assert world.stored_session(pair.session_id).client_id == "latchkey"
    assert world.stored_session(pair.session_id).device_name is None


def test_a_wrong_password_and_an_unknown_email_give_the_same_error(world: World) -> None:
    world.registered()

    with pytest.raises(InvalidCredentials) as wrong_password:
        attempt(world, EMAIL, "not the password")
    with pytest.raises(InvalidCredentials) as unknown_email:
        attempt(world, "nobody@example.com", PASSWORD)

    assert type(wrong_password.value) is type(unknown_email.value)
    assert str(wrong_password.value) == str(unknown_email.value)
    assert world.store.sessions == {}


def test_a_malformed_email_fails_like_an_unknown_one(world: World) -> None:
    with pytest.raises(InvalidCredentials, match="invalid email or password"):
        attempt(world, "not-an-email", PASSWORD)


def test_an_unknown_email_still_spends_the_time_of_a_password_check(world: World) -> None:
    attempt_unknown = LogInCommand(email="nobody@example.com", password=PASSWORD)

    with pytest.raises(InvalidCredentials):
        world.log_in(attempt_unknown)

    assert world.hasher.dummy_verifies == 1


def test_a_known_email_checks_the_real_hash_not_the_dummy(world: World) -> None:
    world.registered()

    failed(world)

    assert world.hasher.dummy_verifies == 0


def test_a_disabled_user_gets_invalid_credentials_even_with_the_right_password(
    world: World,
) -> None:
    world.registered()
    world.manage_users.disable(EMAIL)

    with pytest.raises(InvalidCredentials, match="invalid email or password"):
        attempt(world)
    assert world.store.sessions == {}


def test_an_outdated_hash_is_upgraded_on_a_successful_login(world: World) -> None:
    user = world.registered()
    outdated = "old$" + hashlib.sha256(PASSWORD.encode()).hexdigest()
    world.store.users[user.id] = replace(user, password_hash=outdated)

    attempt(world)

    upgraded = world.stored_user(user.id).password_hash
    assert upgraded.startswith("fake$")
    assert not world.hasher.needs_update(upgraded)
    # Two writes, one transaction: `start` keeps the user locked until the new
    # hash commits, so a password change cannot slip in between.
    assert world.uow.made[-1].autocommit is False
    attempt(world)


def test_an_outdated_hash_is_left_alone_by_a_failed_login(world: World) -> None:
    user = world.registered()
    outdated = "old$" + hashlib.sha256(PASSWORD.encode()).hexdigest()
    world.store.users[user.id] = replace(user, password_hash=outdated)

    failed(world)

    assert world.stored_user(user.id).password_hash == outdated


def test_an_account_is_throttled_after_too_many_failures_from_any_ips(world: World) -> None:
    world.registered()
    for n in range(world.throttle.max_failures):
        failed(world, ip=f"198.51.100.{n}")

    with pytest.raises(TooManyRequests) as throttled:
        attempt(world, ip="203.0.113.9")
    assert throttled.value.retry_after > 0
    assert world.store.sessions == {}


def test_the_account_counter_ignores_the_case_of_the_email(world: World) -> None:
    world.registered()
    for n in range(world.throttle.max_failures):
        failed(world, email=EMAIL.upper() if n % 2 else EMAIL, ip=f"198.51.100.{n}")

    with pytest.raises(TooManyRequests):
        attempt(world, ip="203.0.113.9")


def test_the_account_counter_counts_every_spelling_of_the_address(world: World) -> None:
    world.registered("bob@münchen.de")
    spellings = ["bob@xn--mnchen-3ya.de", "BOB@MÜNCHEN.DE", "bob@mu\u0308nchen.de"]
    for n in range(world.throttle.max_failures):
        failed(world, email=spellings[n % len(spellings)], ip=f"198.51.100.{n}")

    with pytest.raises(TooManyRequests):
        attempt(world, "bob@münchen.de", ip="203.0.113.9")


def test_an_ip_is_throttled_after_too_many_failures_over_any_accounts(world: World) -> None:
    world.registered("dave@example.com")
    for n in range(world.throttle.max_failures):
        failed(world, email=f"user{n}@example.com", ip="198.51.100.7")

    with pytest.raises(TooManyRequests):
        attempt(world, "dave@example.com", ip="198.51.100.7")
    attempt(world, "dave@example.com", ip="203.0.113.9")


def test_unknown_accounts_count_towards_the_throttle_too(world: World) -> None:
    for _ in range(world.throttle.max_failures):
        failed(world, email="nobody@example.com")

    with pytest.raises(TooManyRequests):
        attempt(world, "nobody@example.com")


def test_a_success_clears_the_account_counter_but_not_the_ip_counter(world: World) -> None:
    world.registered("alice@example.com")
    world.registered("carol@example.com")
    limit = world.throttle.max_failures
    ip = "198.51.100.7"
    for _ in range(limit - 1):
        failed(world, "alice@example.com", ip=ip)

    attempt(world, "alice@example.com", ip=ip)

    # Alice's account counter starts over: limit - 1 more failures from elsewhere are fine.
    for _ in range(limit - 1):
        failed(world, "alice@example.com", ip="203.0.113.1")
    attempt(world, "alice@example.com", ip="203.0.113.2")
    # The IP's counter does not: one more failure from it and it is throttled for anyone.
    failed(world, "bob@example.com", ip=ip)
    with pytest.raises(TooManyRequests):
        attempt(world, "carol@example.com", ip=ip)


def test_a_login_in_flight_holds_a_place_among_its_ips_failures(world: World) -> None:
    # Parallel guesses over many accounts: one being verified counts already.
    world.registered("alice@example.com")
    ip = "198.51.100.7"
    for n in range(world.throttle.max_failures - 1):
        failed(world, f"user{n}@example.com", ip=ip)
    meanwhile: list[type[Exception]] = []

    def parallel_guess() -> None:
        with pytest.raises(TooManyRequests) as refused:
            attempt(world, "bob@example.com", "guess", ip=ip)
        meanwhile.append(refused.type)

    world.hasher.during_verify = parallel_guess
    failed(world, "alice@example.com", ip=ip)

    assert meanwhile == [TooManyRequests]
    assert world.hasher.dummy_verifies == world.throttle.max_failures - 1  # none for bob


def test_a_login_gives_its_place_back_after_counting_its_failure(world: World) -> None:
    ip = "198.51.100.7"
    failed(world, "nobody@example.com", ip=ip)

    ip_events = [e for e in world.throttle.journal if e.endswith(f"login:ip:{ip}")]
    assert ip_events == [f"enter login:ip:{ip}", f"failure login:ip:{ip}", f"leave login:ip:{ip}"]


def test_a_success_gives_its_ips_place_back_before_its_session_is_written(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Successful logins are not held back while they write: only the password
    # check takes one of the IP's places.
    world.registered()
    ip = "198.51.100.7"
    held_meanwhile: list[int] = []
    new_token = world.codec.new_token

    def noting_the_places() -> str:
        held_meanwhile.append(world.throttle.in_flight.get(f"login:ip:{ip}", 0))
        return new_token()

    monkeypatch.setattr(world.codec, "new_token", noting_the_places)
    attempt(world, ip=ip)

    assert held_meanwhile == [0]


def test_successful_logins_in_a_row_never_use_up_the_ips_places(world: World) -> None:
    world.registered()
    ip = "198.51.100.7"
    for n in range(world.throttle.max_failures - 1):
        failed(world, f"user{n}@example.com", ip=ip)

    for _ in range(3 * world.throttle.max_failures):
        attempt(world, ip=ip)
    failed(world, "user9@example.com", ip=ip)  # the last failure the IP may have


def test_a_login_is_audited_with_the_user_and_the_session(world: World) -> None:
    user = world.registered()

    pair = world.log_in(LogInCommand(email=EMAIL, password=PASSWORD))

    assert world.audit.events[-1] == {
        "event": "login",
        "user_id": user.id,
        "session_id": pair.session_id,
    }


def test_a_failed_login_is_audited(world: World) -> None:
    world.registered()

    failed(world)
    with pytest.raises(InvalidCredentials):
        attempt(world, "nobody@example.com")

    assert world.audit.names() == ["signup", "login_failed", "login_failed"]


def test_no_audit_event_carries_the_password(world: World) -> None:
    world.logged_in()
    failed(world)

    assert all(PASSWORD not in repr(e) for e in world.audit.events)
    assert all("not the password" not in repr(e) for e in world.audit.events)


@pytest.mark.parametrize("change", ["password changed", "disabled", "deleted"])
def test_a_login_whose_account_changed_while_its_password_was_checked_starts_no_session(
    world: World, change: str
) -> None:
    user = world.registered()
    real_verify = world.hasher.verify

    def verify_while_the_account_changes(password: str, password_hash: str) -> bool:
        ok = real_verify(password, password_hash)
        store = world.uow.store
        if change == "deleted":
            del store.users[user.id]
        elif change == "disabled":
            store.users[user.id] = replace(user, disabled_at=T0)
        else:
            store.users[user.id] = replace(user, password_hash=world.hasher.hash("new one"))
        return ok

    world.hasher.verify = verify_while_the_account_changes  # type: ignore[method-assign]
    with pytest.raises(InvalidCredentials):
        attempt(world)
    assert world.uow.store.sessions == {}
