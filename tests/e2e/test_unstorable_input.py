"""Text PostgreSQL cannot store (a NUL byte) is bad input, never a 500."""

from __future__ import annotations

import base64

from tests.e2e.conftest import PASSWORD, Api


def test_a_nul_byte_anywhere_is_refused_without_a_server_error(pg_api: Api) -> None:
    api = pg_api
    api.signup()
    attempts = [
        api.client.post("/v1/auth/login", json={"email": "a\u0000@example.com", "password": "x"}),
        api.client.post(
            "/v1/auth/login",
            json={"email": "ada@example.com", "password": PASSWORD, "device_name": "x\u0000y"},
        ),
        api.client.post(
            "/oauth/token",
            data={"grant_type": "password", "username": "a\u0000@example.com", "password": "x"},
        ),
        api.client.post(
            "/oauth/introspect",
            data={"token": "x"},
            headers={"Authorization": "Basic " + base64.b64encode(b"a\x00b:secret").decode()},
        ),
    ]
    for response in attempts:
        assert 400 <= response.status_code < 500, response.text
        assert "SELECT" not in response.text
