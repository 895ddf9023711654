"""Log out, list and revoke sessions, and who Authenticate lets in."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from application.authenticate import SessionsInStore
from application.logout import LogoutScope
from application.sessions import SessionView
from application.tokens import TokenPair
from domain.errors import InvalidRefreshToken, InvalidToken, SessionNotFound
from tests.unit.conftest import ACCESS_TTL, IDLE_TTL, PASSWORD, World


def three_devices(world: World) -> tuple[TokenPair, TokenPair, TokenPair]:
    phone = world.logged_in(device_name="phone")
    world.clock.advance(1)
    laptop = world.logged_in(device_name="laptop")
    world.clock.advance(1)
    tablet = world.logged_in(device_name="tablet")
    return phone, laptop, tablet


def works(world: World, pair: TokenPair) -> bool:
    """Both the access token and the refresh token of the pair are still accepted."""
    try:
        world.principal(pair)
    except InvalidToken:
        access = False
    else:
        access = True
    try:
        world.rotated(pair)
    except InvalidRefreshToken:
        refresh = False
    else:
        refresh = True
    assert access == refresh, "access and refresh tokens of one session disagree"
    return access


def listed(views: list[SessionView]) -> list[tuple[str | None, bool]]:
    return [(v.device_name, v.current) for v in views]


# -- log out -----------------------------------------------------------------------


def test_logging_out_locally_ends_only_this_session(world: World) -> None:
    phone, laptop, tablet = three_devices(world)

    world.log_out(world.principal(laptop), LogoutScope.LOCAL)

    assert world.session_is_revoked(laptop.session_id)
    assert [works(world, p) for p in (phone, laptop, tablet)] == [True, False, True]


def test_logging_out_is_local_by_default(world: World) -> None:
    phone, laptop, _ = three_devices(world)

    world.log_out(world.principal(laptop))

    assert [works(world, p) for p in (phone, laptop)] == [True, False]


def test_logging_out_the_others_keeps_only_this_session(world: World) -> None:
    phone, laptop, tablet = three_devices(world)

    world.log_out(world.principal(laptop), LogoutScope.OTHERS)

    assert [works(world, p) for p in (phone, laptop, tablet)] == [False, True, False]


def test_logging_out_globally_ends_every_session_of_the_user(world: World) -> None:
    phone, laptop, tablet = three_devices(world)

    world.log_out(world.principal(laptop), LogoutScope.GLOBAL)

    assert [works(world, p) for p in (phone, laptop, tablet)] == [False, False, False]
    assert all(s.revoked_at == world.clock.now() for s in world.store.sessions.values())


def test_logging_out_globally_leaves_other_users_alone(world: World) -> None:
    alice = world.logged_in("alice@example.com")
    bob = world.logged_in("bob@example.com")

    world.log_out(world.principal(alice), LogoutScope.GLOBAL)

    assert [works(world, p) for p in (alice, bob)] == [False, True]


def test_a_logout_is_audited_with_its_scope(world: World) -> None:
    pair = world.logged_in()

    world.log_out(world.principal(pair), LogoutScope.OTHERS)

    assert world.audit.events[-1] == {
        "event": "logout",
        "user_id": pair.user_id,
        "session_id": pair.session_id,
        "scope": "others",
    }


def test_logging_out_keeps_the_time_of_the_first_revocation(world: World) -> None:
    pair = world.logged_in()
    principal = world.principal(pair)
    world.log_out(principal)
    revoked_at = world.stored_session(pair.session_id).revoked_at
    world.clock.advance(60)

    world.log_out(principal)

    assert world.stored_session(pair.session_id).revoked_at == revoked_at


# -- list sessions -----------------------------------------------------------------


def test_listing_shows_the_live_sessions_oldest_first_and_marks_the_current_one(
    world: World,
) -> None:
    phone, laptop, _ = three_devices(world)

    views = world.list_sessions(world.principal(laptop))

    assert listed(views) == [("phone", False), ("laptop", True), ("tablet", False)]
    assert views[0].id == phone.session_id
    assert views[0].created_at == world.stored_session(phone.session_id).created_at


def test_listing_shows_when_each_session_was_last_used(world: World) -> None:
    phone, laptop, _ = three_devices(world)
    world.clock.advance(120)
    world.rotated(phone)

    views = world.list_sessions(world.principal(laptop))

    assert views[0].last_used_at == world.clock.now()
    assert views[1].last_used_at == world.stored_session(laptop.session_id).created_at


def test_listing_leaves_out_revoked_sessions_and_other_users_sessions(world: World) -> None:
    phone, laptop, _ = three_devices(world)
    world.logged_in("bob@example.com", device_name="bob's phone")
    world.log_out(world.principal(phone))

    views = world.list_sessions(world.principal(laptop))

    assert listed(views) == [("laptop", True), ("tablet", False)]


def test_listing_leaves_out_sessions_past_their_absolute_expiry(world: World) -> None:
    old = world.logged_in(device_name="old")
    session_end = world.stored_session(old.session_id).expires_at
    world.clock.current = session_end
    new = world.logged_in(device_name="new")

    assert listed(world.list_sessions(world.principal(new))) == [("new", True)]


def test_listing_leaves_out_sessions_idle_for_longer_than_the_idle_lifetime(
    world: World,
) -> None:
    idle = world.logged_in(device_name="idle")
    world.clock.advance(IDLE_TTL)
    with pytest.raises(InvalidRefreshToken):
        world.rotated(idle)  # the session can never be used again
    active = world.logged_in(device_name="active")

    assert listed(world.list_sessions(world.principal(active))) == [("active", True)]


# -- revoke a session --------------------------------------------------------------


def test_revoking_one_of_ones_own_sessions_ends_it(world: World) -> None:
    phone, laptop, tablet = three_devices(world)

    world.revoke_session(world.principal(laptop), phone.session_id)

    assert [works(world, p) for p in (phone, laptop, tablet)] == [False, True, True]
    assert "session_revoked" in world.audit.names()


def test_revoking_the_current_session_is_allowed(world: World) -> None:
    pair = world.logged_in()

    world.revoke_session(world.principal(pair), pair.session_id)

    assert not works(world, pair)


def test_revoking_someone_elses_session_answers_not_found_and_changes_nothing(
    world: World,
) -> None:
    alice = world.logged_in("alice@example.com")
    bob = world.logged_in("bob@example.com")

    with pytest.raises(SessionNotFound):
        world.revoke_session(world.principal(alice), bob.session_id)

    assert not world.session_is_revoked(bob.session_id)
    assert works(world, bob)


def test_revoking_an_unknown_session_answers_not_found(world: World) -> None:
    pair = world.logged_in()

    with pytest.raises(SessionNotFound):
        world.revoke_session(world.principal(pair), UUID(int=999_999))


def test_revoking_an_already_revoked_session_answers_not_found(world: World) -> None:
    phone, laptop, _ = three_devices(world)
    world.revoke_session(world.principal(laptop), phone.session_id)

    with pytest.raises(SessionNotFound):
        world.revoke_session(world.principal(laptop), phone.session_id)


# -- authenticate ------------------------------------------------------------------


def test_a_live_access_token_names_its_user_and_session(world: World) -> None:
    pair = world.logged_in(client_id="mobile-app")

    principal = world.authenticate(pair.access_token)

    assert principal.user_id == pair.user_id
    assert principal.session_id == pair.session_id
    assert principal.claims.client_id == "mobile-app"


def test_an_access_token_of_a_revoked_session_is_refused_at_once(world: World) -> None:
    pair = world.logged_in()
    world.log_out(world.principal(pair))

    with pytest.raises(InvalidToken):
        world.authenticate(pair.access_token)


def test_an_access_token_of_a_deleted_user_is_refused(world: World) -> None:
    pair = world.logged_in()
    world.delete_account(world.principal(pair), PASSWORD)

    with pytest.raises(InvalidToken):
        world.authenticate(pair.access_token)


def test_an_access_token_of_a_user_deleted_by_an_operator_is_refused(world: World) -> None:
    pair = world.logged_in()
    world.manage_users.delete("alice@example.com")

    with pytest.raises(InvalidToken):
        world.authenticate(pair.access_token)


def test_an_access_token_is_refused_once_its_user_is_disabled(world: World) -> None:
    pair = world.logged_in()
    world.manage_users.disable("alice@example.com")

    with pytest.raises(InvalidToken):
        world.authenticate(pair.access_token)


def test_re_enabling_a_user_does_not_revive_the_old_sessions(world: World) -> None:
    pair = world.logged_in()
    world.manage_users.disable("alice@example.com")
    world.manage_users.enable("alice@example.com")

    assert not works(world, pair)


def test_an_expired_access_token_is_refused(world: World) -> None:
    pair = world.logged_in()
    world.clock.advance(ACCESS_TTL + 1)

    with pytest.raises(InvalidToken):
        world.authenticate(pair.access_token)


def test_an_access_token_does_not_outlive_its_session(world: World) -> None:
    pair = world.logged_in()
    session_end = world.stored_session(pair.session_id).expires_at
    world.clock.current = session_end - timedelta(seconds=60)
    late_token, _ = world.signer.issue(
        user_id=pair.user_id,
        session_id=pair.session_id,
        client_id="latchkey",
        now=world.clock.now(),
    )
    world.authenticate(late_token)
    world.clock.current = session_end

    with pytest.raises(InvalidToken):
        world.authenticate(late_token)


def test_an_access_token_naming_another_users_session_is_refused(world: World) -> None:
    alice = world.logged_in("alice@example.com")
    bob = world.logged_in("bob@example.com")
    forged, _ = world.signer.issue(
        user_id=alice.user_id,
        session_id=bob.session_id,
        client_id="latchkey",
        now=world.clock.now(),
    )

    with pytest.raises(InvalidToken):
        world.authenticate(forged)


def test_a_token_we_never_issued_is_refused(world: World) -> None:
    with pytest.raises(InvalidToken):
        world.authenticate("at.never-issued")


def test_many_sessions_are_judged_live_in_one_read_as_one_at_a_time(world: World) -> None:
    kept, ended = world.logged_in(), world.logged_in()
    bob = world.logged_in("bob@example.com")
    world.log_out(world.principal(ended))
    sessions = SessionsInStore(world.uow)
    keys = [
        (kept.session_id, kept.user_id),
        (ended.session_id, ended.user_id),
        (bob.session_id, kept.user_id),  # a live session, but another user's
        (uuid4(), kept.user_id),
    ]

    answers = sessions.live_until_many(keys)

    assert answers == {key: sessions.live_until(*key) for key in keys}
    assert answers[keys[0]] == world.stored_session(kept.session_id).expires_at
    assert [answers[key] for key in keys[1:]] == [None, None, None]
