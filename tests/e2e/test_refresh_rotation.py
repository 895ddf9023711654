"""Refresh tokens over HTTP: rotation, the grace window, reuse detection, lifetimes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import create_engine, text

from tests.e2e.conftest import Api
from tests.e2e.oauth_requests import claims


def test_refreshing_after_the_access_token_expired_gives_a_new_pair(any_api: Api) -> None:
    api = any_api
    api.signup()
    pair = api.login()
    api.clock.advance(901 + 10)
    assert api.me(pair["access_token"]).status_code == 401
    response = api.refresh(pair["refresh_token"])
    assert response.status_code == 200
    fresh = response.json()
    assert fresh["refresh_token"] != pair["refresh_token"]
    assert fresh["session_id"] == pair["session_id"]
    assert api.me(fresh["access_token"]).status_code == 200


def test_reusing_a_rotated_token_after_the_grace_window_revokes_the_whole_session(
    any_api: Api,
) -> None:
    api = any_api
    api.signup()
    first = api.login()
    second = api.refresh(first["refresh_token"]).json()
    # Cached as live now: the revocation must reach the cache, not only the table.
    assert api.me(second["access_token"]).status_code == 200
    api.clock.advance(11)
    replay = api.refresh(first["refresh_token"])
    assert replay.status_code == 401
    assert replay.json()["code"] == "invalid_refresh_token"
    # The revocation was committed although the replay answered with an error.
    assert api.refresh(second["refresh_token"]).status_code == 401
    assert api.me(second["access_token"]).status_code == 401


def test_a_retry_within_the_grace_window_gets_the_identical_successor(api: Api) -> None:
    api.signup()
    first = api.login()
    second = api.refresh(first["refresh_token"]).json()
    api.clock.advance(5)
    retry = api.refresh(first["refresh_token"])
    assert retry.status_code == 200
    assert retry.json()["refresh_token"] == second["refresh_token"]
    assert retry.json()["session_id"] == second["session_id"]


def test_a_retry_after_the_successor_was_used_is_reuse(api: Api) -> None:
    api.signup()
    first = api.login()
    second = api.refresh(first["refresh_token"]).json()
    third = api.refresh(second["refresh_token"]).json()
    assert api.refresh(first["refresh_token"]).status_code == 401
    assert api.refresh(third["refresh_token"]).status_code == 401


def test_parallel_refreshes_of_one_token_fork_nothing_and_the_session_survives(
    any_api: Api,
) -> None:
    api = any_api
    api.signup()
    pair = api.login()
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: api.refresh(pair["refresh_token"]), range(8)))
    assert {r.status_code for r in responses} <= {200, 401}
    successors = {r.json()["refresh_token"] for r in responses if r.status_code == 200}
    assert len(successors) == 1
    assert api.refresh(successors.pop()).status_code == 200


def test_an_unused_refresh_token_dies_after_its_idle_lifetime(api: Api) -> None:
    api.signup()
    pair = api.login()
    api.clock.advance(3601)
    assert api.refresh(pair["refresh_token"]).status_code == 401


def test_continuous_rotation_cannot_outlive_the_absolute_session_lifetime(api: Api) -> None:
    api.signup()
    token = api.login()["refresh_token"]
    session_end = api.clock.now().timestamp() + 86400
    for _ in range(28):  # every 3,000 s for 84,000 s: always within the idle lifetime
        api.clock.advance(3000)
        response = api.refresh(token)
        assert response.status_code == 200
        token = response.json()["refresh_token"]
        assert response.json()["refresh_token_expires_in"] <= 86400
    api.clock.advance(2390)  # 10 s before the end
    last = api.refresh(token).json()
    # Offline verifiers cannot see the end: the access token must not outlive it.
    assert last["expires_in"] <= 10
    assert last["refresh_token_expires_in"] <= 10
    assert claims(last["access_token"])["exp"] <= session_end
    api.clock.advance(11)
    assert api.refresh(last["refresh_token"]).status_code == 401


def test_refresh_tokens_are_long_random_and_stored_only_as_keyed_hashes(api: Api) -> None:
    api.signup()
    tokens = [api.login()["refresh_token"] for _ in range(5)]
    assert len(set(tokens)) == 5
    assert all(len(t) >= 43 for t in tokens)  # 32 bytes of randomness, base64url
    engine = create_engine(api.container.settings().effective_database_url)
    with engine.connect() as conn:
        stored = [row[0] for row in conn.execute(text("SELECT token_hash FROM refresh_tokens"))]
        dump = " ".join(str(row) for row in conn.execute(text("SELECT * FROM refresh_tokens")))
    engine.dispose()
    assert len(stored) == 5
    for token in tokens:
        assert token not in dump


def test_a_refresh_token_is_not_a_bearer_token(api: Api) -> None:
    api.signup()
    pair = api.login()
    response = api.me(pair["refresh_token"])
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_an_unknown_refresh_token_is_invalid_refresh_token(api: Api) -> None:
    response = api.refresh("not-a-token")
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_refresh_token"
