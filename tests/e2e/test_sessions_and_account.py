"""Logout, sessions, password change and account deletion over HTTP."""

from __future__ import annotations

from tests.e2e.conftest import OTHER_PASSWORD, PASSWORD, Api


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_local_logout_ends_only_this_device(any_api: Api) -> None:
    api = any_api
    api.signup()
    phone, laptop = api.login(), api.login()
    assert api.logout(phone["access_token"]).status_code == 204
    assert api.me(phone["access_token"]).status_code == 401
    assert api.refresh(phone["refresh_token"]).status_code == 401
    assert api.me(laptop["access_token"]).status_code == 200
    assert api.refresh(laptop["refresh_token"]).status_code == 200


def test_logout_of_the_others_keeps_this_device(api: Api) -> None:
    api.signup()
    phone, laptop, tablet = api.login(), api.login(), api.login()
    assert api.me(laptop["access_token"]).status_code == 200  # now cached as live
    assert api.logout(phone["access_token"], "others").status_code == 204
    assert api.me(phone["access_token"]).status_code == 200
    for other in (laptop, tablet):
        assert api.me(other["access_token"]).status_code == 401
        assert api.refresh(other["refresh_token"]).status_code == 401


def test_global_logout_ends_every_device(api: Api) -> None:
    api.signup()
    phone, laptop = api.login(), api.login()
    assert api.me(laptop["access_token"]).status_code == 200  # now cached as live
    assert api.logout(phone["access_token"], "global").status_code == 204
    for pair in (phone, laptop):
        assert api.me(pair["access_token"]).status_code == 401
        assert api.refresh(pair["refresh_token"]).status_code == 401


def test_logout_with_an_unknown_scope_is_a_validation_error(api: Api) -> None:
    api.signup()
    pair = api.login()
    response = api.logout(pair["access_token"], "everything")
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


def test_sessions_are_listed_with_the_current_one_marked(api: Api) -> None:
    api.signup()
    phone = api.login(device_name="phone")
    api.clock.advance(1)
    api.login(device_name="laptop")
    response = api.get("/v1/sessions", phone["access_token"])
    assert response.status_code == 200
    sessions = response.json()
    assert [s["device_name"] for s in sessions] == ["phone", "laptop"]
    assert [s["current"] for s in sessions] == [True, False]
    assert set(sessions[0]) == {"id", "device_name", "created_at", "last_used_at", "current"}
    assert sessions[0]["id"] == phone["session_id"]


def test_deleting_a_session_revokes_its_tokens_at_once(api: Api) -> None:
    api.signup()
    phone, laptop = api.login(), api.login()
    assert api.me(laptop["access_token"]).status_code == 200  # now cached as live
    response = api.client.delete(
        f"/v1/sessions/{laptop['session_id']}", headers=_auth(phone["access_token"])
    )
    assert response.status_code == 204
    assert api.me(laptop["access_token"]).status_code == 401
    assert api.refresh(laptop["refresh_token"]).status_code == 401
    assert [s["id"] for s in api.get("/v1/sessions", phone["access_token"]).json()] == [
        phone["session_id"]
    ]


def test_another_users_session_is_not_found(api: Api) -> None:
    api.signup("ada@example.com")
    api.signup("bob@example.com")
    ada, bob = api.login("ada@example.com"), api.login("bob@example.com")
    response = api.client.delete(
        f"/v1/sessions/{bob['session_id']}", headers=_auth(ada["access_token"])
    )
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert api.me(bob["access_token"]).status_code == 200


def test_changing_the_password_needs_the_current_one_and_ends_the_other_sessions(
    any_api: Api,
) -> None:
    api = any_api
    api.signup()
    phone, laptop = api.login(), api.login()
    wrong = api.client.post(
        "/v1/users/me/password",
        json={"current_password": "not the password at all", "new_password": OTHER_PASSWORD},
        headers=_auth(phone["access_token"]),
    )
    assert wrong.status_code == 401
    assert api.me(laptop["access_token"]).status_code == 200
    changed = api.client.post(
        "/v1/users/me/password",
        json={"current_password": PASSWORD, "new_password": OTHER_PASSWORD},
        headers=_auth(phone["access_token"]),
    )
    assert changed.status_code == 204
    assert api.me(phone["access_token"]).status_code == 200
    assert api.me(laptop["access_token"]).status_code == 401
    assert api.refresh(laptop["refresh_token"]).status_code == 401
    old = api.client.post("/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert old.status_code == 401
    api.login(password=OTHER_PASSWORD)


def test_the_new_password_must_follow_the_policy(api: Api) -> None:
    api.signup()
    pair = api.login()
    response = api.client.post(
        "/v1/users/me/password",
        json={"current_password": PASSWORD, "new_password": "short"},
        headers=_auth(pair["access_token"]),
    )
    assert response.status_code == 422
    assert "at least 12" in response.json()["detail"]


def test_deleting_the_account_needs_the_password_and_frees_the_email(any_api: Api) -> None:
    api = any_api
    api.signup()
    pair = api.login()
    refused = api.client.request(
        "DELETE",
        "/v1/users/me",
        json={"password": "wrong wrong wrong"},
        headers=_auth(pair["access_token"]),
    )
    assert refused.status_code == 401
    deleted = api.client.request(
        "DELETE",
        "/v1/users/me",
        json={"password": PASSWORD},
        headers=_auth(pair["access_token"]),
    )
    assert deleted.status_code == 204
    assert api.me(pair["access_token"]).status_code == 401
    assert api.refresh(pair["refresh_token"]).status_code == 401
    api.signup()


def test_me_describes_the_caller(api: Api) -> None:
    user = api.signup()
    response = api.me(api.login()["access_token"])
    assert response.status_code == 200
    assert response.json() == user


def test_protected_routes_without_a_token_answer_with_a_bearer_challenge(api: Api) -> None:
    for method, path in (
        ("GET", "/v1/users/me"),
        ("GET", "/v1/sessions"),
        ("POST", "/v1/auth/logout"),
    ):
        response = api.client.request(method, path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        assert response.json()["code"] == "invalid_token"


def test_a_device_named_by_its_user_agent_is_listed_without_control_characters(
    any_api: Api,
) -> None:
    # A header may carry a tab (and C1 bytes, domain tests); a session's name must not.
    api = any_api
    api.signup()
    # UTF-8 too, as clients send it (Starlette reads header bytes as Latin-1).
    agent = {"User-Agent": "Mozilla/5.0\t(X11; Téléphone €)\x1b[2J\x7f".encode()}
    login = {"email": "ada@example.com", "password": PASSWORD}
    json_login = api.client.post("/v1/auth/login", json=login, headers=agent)
    grant = {"grant_type": "password", "username": "ada@example.com", "password": PASSWORD}
    password_grant = api.client.post("/oauth/token", data=grant, headers=agent)
    assert (json_login.status_code, password_grant.status_code) == (200, 200)

    listed = api.get("/v1/sessions", json_login.json()["access_token"]).json()
    assert [s["device_name"] for s in listed] == ["Mozilla/5.0 (X11; Téléphone €) [2J"] * 2
