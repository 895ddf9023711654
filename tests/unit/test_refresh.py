"""Refresh: rotation, the grace rule, reuse detection and the two lifetimes."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from application.refresh import RefreshCommand
from domain.errors import InvalidRefreshToken, InvalidToken, RefreshTokenReused, TooManyRequests
from domain.session import RefreshToken, Session
from tests.fakes import FakeRefreshTokenRepository
from tests.unit.conftest import (
    GRACE,
    IDLE_TTL,
    MAX_AGE,
    REFRESH_BUDGET,
    SESSION_POLICY,
    World,
    build_world,
)


def assert_dead(world: World, session: Session, *refresh_tokens: str) -> None:
    """The session is revoked in the committed store and none of its tokens works."""
    assert world.session_is_revoked(session.id)
    for token in refresh_tokens:
        with pytest.raises(InvalidRefreshToken):
            world.rotated(token)


# -- rotation ------------------------------------------------------------------


def test_refreshing_spends_the_token_and_issues_a_new_one_in_the_same_session(
    world: World,
) -> None:
    first = world.logged_in()
    world.clock.advance(60)

    second = world.rotated(first)

    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    assert second.session_id == first.session_id
    spent = world.stored_token(first.refresh_token)
    fresh = world.stored_token(second.refresh_token)
    assert spent is not None
    assert fresh is not None
    assert spent.rotated_at == world.clock.now()
    assert spent.successor_id == fresh.id
    assert not fresh.is_spent
    assert world.principal(second).session_id == first.session_id


def test_refreshing_records_the_use_of_the_session(world: World) -> None:
    first = world.logged_in()
    world.clock.advance(60)

    world.rotated(first)

    assert world.stored_session(first.session_id).last_used_at == world.clock.now()


def test_the_new_token_can_be_rotated_in_turn(world: World) -> None:
    pair = world.logged_in()
    for _ in range(5):
        world.clock.advance(300)
        pair = world.rotated(pair)

    assert not world.session_is_revoked(pair.session_id)
    assert len(world.store.tokens) == 6


def test_a_refresh_is_audited(world: World) -> None:
    first = world.logged_in()

    world.rotated(first)

    assert world.audit.events[-1] == {
        "event": "refresh",
        "user_id": first.user_id,
        "session_id": first.session_id,
    }


# -- the grace rule --------------------------------------------------------------


def test_a_retry_within_grace_returns_the_identical_successor(world: World) -> None:
    first = world.logged_in()
    second = world.rotated(first)
    world.clock.advance(GRACE - 1)

    retry = world.rotated(first)

    assert retry.refresh_token == second.refresh_token
    assert retry.session_id == second.session_id
    assert world.principal(retry).session_id == first.session_id
    assert not world.session_is_revoked(first.session_id)
    assert "refresh_retried" in world.audit.names()


def test_a_retry_on_the_last_second_of_grace_still_returns_the_successor(world: World) -> None:
    first = world.logged_in()
    second = world.rotated(first)
    world.clock.advance(GRACE)

    assert world.rotated(first).refresh_token == second.refresh_token


def test_retries_within_grace_can_repeat_and_the_successor_still_works(world: World) -> None:
    first = world.logged_in()
    second = world.rotated(first)
    for _ in range(3):
        world.clock.advance(1)
        assert world.rotated(first).refresh_token == second.refresh_token

    third = world.rotated(second)

    assert third.refresh_token not in (first.refresh_token, second.refresh_token)


def test_a_retry_within_grace_after_the_successor_was_used_revokes_the_session(
    world: World,
) -> None:
    first = world.logged_in()
    second = world.rotated(first)
    world.clock.advance(1)
    third = world.rotated(second)
    world.clock.advance(1)

    with pytest.raises(RefreshTokenReused):
        world.rotated(first)

    assert_dead(world, world.stored_session(first.session_id), third.refresh_token)


# -- reuse detection -------------------------------------------------------------


def test_reusing_a_rotated_token_after_grace_revokes_the_whole_session(world: World) -> None:
    first = world.logged_in()
    second = world.rotated(first)
    world.clock.advance(GRACE + 1)

    with pytest.raises(RefreshTokenReused) as reused:
        world.rotated(first)

    assert reused.value.session_id == first.session_id
    assert reused.value.user_id == first.user_id
    assert_dead(world, world.stored_session(first.session_id), second.refresh_token)


@pytest.mark.parametrize("autocommit", [True, False], ids=["autocommit", "transaction"])
def test_the_revocation_for_reuse_is_committed_although_the_refresh_fails(
    world: World, autocommit: bool
) -> None:
    # In autocommit the revocation is kept as it runs; in a transaction (SQLite)
    # only if the use case commits before it raises.
    world.uow.honours_autocommit = autocommit
    first = world.logged_in()
    world.rotated(first)
    world.clock.advance(GRACE + 1)

    with pytest.raises(RefreshTokenReused):
        world.rotated(first)

    # The committed store, read after the use case raised, holds the revocation.
    assert world.store.sessions[first.session_id].revoked_at == world.clock.now()


def test_reuse_detection_also_refuses_the_access_tokens_of_the_session(world: World) -> None:
    first = world.logged_in()
    second = world.rotated(first)
    world.clock.advance(GRACE + 1)

    with pytest.raises(RefreshTokenReused):
        world.rotated(first)

    with pytest.raises(InvalidToken):
        world.principal(second)


def test_replaying_an_older_ancestor_is_reuse_too(world: World) -> None:
    first = world.logged_in()
    second = world.rotated(first)
    world.clock.advance(GRACE + 1)
    third = world.rotated(second)
    world.clock.advance(GRACE + 1)

    with pytest.raises(RefreshTokenReused):
        world.rotated(first)

    session = world.stored_session(first.session_id)
    assert_dead(world, session, second.refresh_token, third.refresh_token)


def test_reuse_is_audited(world: World) -> None:
    first = world.logged_in()
    world.rotated(first)
    world.clock.advance(GRACE + 1)

    with pytest.raises(RefreshTokenReused):
        world.rotated(first)

    assert world.audit.events[-1] == {
        "event": "refresh_reuse_detected",
        "user_id": first.user_id,
        "session_id": first.session_id,
    }


def test_reuse_in_one_session_leaves_the_other_sessions_alone(world: World) -> None:
    phone = world.logged_in(device_name="phone")
    laptop = world.logged_in(device_name="laptop")
    world.rotated(phone)
    world.clock.advance(GRACE + 1)

    with pytest.raises(RefreshTokenReused):
        world.rotated(phone)

    assert not world.session_is_revoked(laptop.session_id)
    world.rotated(laptop)


# -- lifetimes -------------------------------------------------------------------


def test_a_refresh_token_unused_for_the_idle_lifetime_is_dead(world: World) -> None:
    pair = world.logged_in()
    world.clock.advance(IDLE_TTL)

    with pytest.raises(InvalidRefreshToken):
        world.rotated(pair)


def test_a_refresh_token_works_until_the_last_second_of_its_idle_lifetime(world: World) -> None:
    pair = world.logged_in()
    world.clock.advance(IDLE_TTL - 1)

    world.rotated(pair)


def test_continuous_rotation_keeps_the_session_alive_only_until_its_absolute_expiry(
    world: World,
) -> None:
    pair = world.logged_in()
    session_end = world.stored_session(pair.session_id).expires_at
    step = IDLE_TTL - 100
    rotations = 0
    while (session_end - world.clock.now()).total_seconds() > step:
        world.clock.advance(step)
        pair = world.rotated(pair)
        rotations += 1
        stored = world.stored_token(pair.refresh_token)
        assert stored is not None
        assert stored.expires_at <= session_end

    assert rotations == MAX_AGE // step
    # The newest token is capped by the session's end, not by the idle lifetime.
    assert pair.refresh_token_expires_in < IDLE_TTL
    world.clock.current = session_end - timedelta(seconds=1)
    pair = world.rotated(pair)
    assert pair.refresh_token_expires_in == 1
    world.clock.advance(1)

    with pytest.raises(InvalidRefreshToken):
        world.rotated(pair)
    assert not world.session_is_revoked(pair.session_id)


def test_the_idle_lifetime_holds_between_rotations(world: World) -> None:
    pair = world.logged_in()
    for _ in range(3):
        world.clock.advance(IDLE_TTL - 1)
        pair = world.rotated(pair)
    world.clock.advance(IDLE_TTL)

    with pytest.raises(InvalidRefreshToken):
        world.rotated(pair)


def test_a_retry_within_grace_does_not_outlive_the_session(world: World) -> None:
    pair = world.logged_in()
    session_end = world.stored_session(pair.session_id).expires_at
    while (session_end - world.clock.now()).total_seconds() > IDLE_TTL:
        world.clock.advance(IDLE_TTL - 1)
        pair = world.rotated(pair)
    world.clock.current = session_end - timedelta(seconds=5)
    world.rotated(pair)
    world.clock.advance(7)

    with pytest.raises(InvalidRefreshToken):
        world.rotated(pair)


def test_a_retry_within_grace_does_not_outlive_the_idle_lifetime_of_the_token(
    world: World,
) -> None:
    first = world.logged_in()
    world.clock.advance(IDLE_TTL - 2)
    second = world.rotated(first)
    world.clock.advance(5)

    with pytest.raises(InvalidRefreshToken) as refused:
        world.rotated(first)

    # Expired, not reused: the session and the successor survive.
    assert not isinstance(refused.value, RefreshTokenReused)
    assert not world.session_is_revoked(first.session_id)
    world.rotated(second)


# -- refusals --------------------------------------------------------------------


def test_a_token_issued_to_one_client_is_refused_for_another(world: World) -> None:
    pair = world.logged_in(client_id="mobile-app")

    with pytest.raises(InvalidRefreshToken):
        world.rotated(pair, client_id="web-app")

    stored = world.stored_token(pair.refresh_token)
    assert stored is not None
    assert not stored.is_spent
    assert world.rotated(pair, client_id="mobile-app").session_id == pair.session_id


def test_a_refresh_that_names_no_client_is_accepted_for_any_session(world: World) -> None:
    pair = world.logged_in(client_id="mobile-app")

    assert world.rotated(pair).session_id == pair.session_id


def test_an_unknown_refresh_token_is_refused(world: World) -> None:
    world.logged_in()

    with pytest.raises(InvalidRefreshToken) as refused:
        world.rotated("not-a-token-we-issued")

    assert not isinstance(refused.value, RefreshTokenReused)


def test_an_access_token_is_not_a_refresh_token(world: World) -> None:
    pair = world.logged_in()

    with pytest.raises(InvalidRefreshToken):
        world.rotated(pair.access_token)


def test_a_refresh_token_is_not_an_access_token(world: World) -> None:
    pair = world.logged_in()

    with pytest.raises(InvalidToken):
        world.authenticate(pair.refresh_token)


def test_a_refresh_token_of_a_logged_out_session_is_refused(world: World) -> None:
    pair = world.logged_in()
    world.log_out(world.principal(pair))

    with pytest.raises(InvalidRefreshToken):
        world.rotated(pair)


def test_refreshes_past_the_budget_of_an_ip_are_refused_before_any_token_is_spent(
    world: World,
) -> None:
    token = world.logged_in().refresh_token
    for _ in range(REFRESH_BUDGET):
        token = world.refresh(RefreshCommand(token, client_ip="192.0.2.7")).refresh_token

    with pytest.raises(TooManyRequests):
        world.refresh(RefreshCommand(token, client_ip="192.0.2.7"))
    assert "throttled" in world.audit.names()
    # Refused before the rotation: the token is still the chain's current one.
    assert world.rotated(token).refresh_token != token


@pytest.mark.parametrize("grace", [0, GRACE])
def test_losing_the_race_to_spend_a_token_never_revokes_its_session(
    grace: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SECURITY.md 3: parallel refreshes of one token leave the session alive,
    # whatever the grace (with none, the loser gets a 401, never a revocation).
    world = build_world(replace(SESSION_POLICY, reuse_grace=timedelta(seconds=grace)))
    first = world.logged_in()
    rotate = FakeRefreshTokenRepository.rotate

    def a_parallel_request_wins(
        self: FakeRefreshTokenRepository,
        token: RefreshToken,
        successor: RefreshToken,
        seal: bytes,
        now: datetime,
    ) -> bool:
        monkeypatch.setattr(FakeRefreshTokenRepository, "rotate", rotate)
        assert rotate(self, token, successor, seal, now)  # theirs commits first...
        world.clock.advance(0.001)
        return False  # ...so ours finds the token spent

    monkeypatch.setattr(FakeRefreshTokenRepository, "rotate", a_parallel_request_wins)

    if grace:
        assert world.rotated(first).session_id == first.session_id  # handed the successor
    else:
        with pytest.raises(InvalidRefreshToken, match="concurrently"):
            world.rotated(first)
        assert world.audit.names()[-1] == "refresh_spent_concurrently"
    assert not world.session_is_revoked(first.session_id)
    assert "refresh_reuse_detected" not in world.audit.names()


def test_a_refresh_whose_session_is_revoked_mid_flight_gets_no_pair(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SECURITY.md 5: a logout committed after the refresh read the token, and
    # before it wrote, ends the session; no new pair may come out of it.
    first = world.logged_in()
    rotate = FakeRefreshTokenRepository.rotate

    def a_logout_commits_first(
        self: FakeRefreshTokenRepository,
        token: RefreshToken,
        successor: RefreshToken,
        seal: bytes,
        now: datetime,
    ) -> bool:
        stored = world.store.sessions[token.session_id]
        world.store.sessions[stored.id] = replace(stored, revoked_at=now)
        return rotate(self, token, successor, seal, now)

    monkeypatch.setattr(FakeRefreshTokenRepository, "rotate", a_logout_commits_first)
    tokens_before = set(world.store.tokens)

    with pytest.raises(InvalidRefreshToken):
        world.rotated(first)

    assert set(world.store.tokens) == tokens_before
    assert "refresh" not in world.audit.names()


def test_no_access_token_outlives_the_idle_lifetime_of_its_session() -> None:
    # A refresh lifetime shorter than an access token's: once the session has
    # idled out (it is no longer listed), its tokens must not go on working.
    idle = timedelta(seconds=300)
    world = build_world(replace(SESSION_POLICY, refresh_idle_ttl=idle))
    pair = world.logged_in()
    assert pair.expires_in == idle.total_seconds()

    world.clock.advance(200)
    refreshed = world.rotated(pair)
    assert refreshed.expires_in == idle.total_seconds()
    world.clock.advance(idle.total_seconds() + 1)
    with pytest.raises(InvalidToken):
        world.principal(refreshed)
