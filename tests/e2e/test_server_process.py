"""The whole journey against a real `latchkey serve` process."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.conftest import PASSWORD
from tests.server import running_server


def test_a_real_server_signs_up_logs_in_refreshes_and_logs_out(tmp_path: Path) -> None:
    with (
        running_server(tmp_path / "var", f"sqlite:///{tmp_path / 'server.db'}") as base,
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
        # RFC 9110 9.1: GET and HEAD; load balancers probe health with HEAD.
        head = client.head("/healthz")
        assert (head.status_code, head.content) == (200, b"")
        assert head.headers["content-length"] == client.get("/healthz").headers["content-length"]
        assert client.get("/docs").status_code == 200
        assert "/v1/auth/login" in client.get("/openapi.json").json()["paths"]
        body = {"email": "ada@example.com", "password": PASSWORD}
        assert client.post("/v1/auth/signup", json=body).status_code == 201
        pair = client.post("/v1/auth/login", json=body).json()
        bearer = {"Authorization": f"Bearer {pair['access_token']}"}
        assert client.get("/v1/users/me", headers=bearer).json()["email"] == "ada@example.com"
        fresh = client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert fresh.status_code == 200
        bearer = {"Authorization": f"Bearer {fresh.json()['access_token']}"}
        assert client.post("/v1/auth/logout", headers=bearer).status_code == 204
        assert client.get("/v1/users/me", headers=bearer).status_code == 401
        assert "x-request-id" in client.get("/healthz").headers
