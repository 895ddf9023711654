"""Requests to the OAuth endpoints through the `api` fixture's client."""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.e2e.conftest import PASSWORD, Api

EMAIL = "ada@example.com"
TOKEN_RESPONSE_KEYS = {
    "access_token",
    "token_type",
    "expires_in",
    "refresh_token",
    "refresh_token_expires_in",
    "session_id",
}


def post(api: Api, endpoint: str, headers: dict[str, str] | None = None, /, **form: str) -> Any:
    return api.client.post(f"/oauth/{endpoint}", data=form, headers=headers)


def password_grant(api: Api, **form: str) -> dict[str, Any]:
    """A token response for ada (signed up already)."""
    response = post(api, "token", grant_type="password", username=EMAIL, password=PASSWORD, **form)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def refresh_grant(api: Api, refresh_token: str, **form: str) -> Any:
    return post(api, "token", grant_type="refresh_token", refresh_token=refresh_token, **form)


def service_client(api: Api, name: str = "billing") -> tuple[str, str]:
    """The id and secret of a newly registered service client."""
    created = api.container.manage_clients().create(name)
    return created.client.id, created.secret


def basic(client_id: str, secret: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=="))
    return decoded


def header(token: str) -> dict[str, Any]:
    segment = token.split(".")[0]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=="))
    return decoded


def assert_oauth_error(response: Any, status: int, error: str) -> None:
    """RFC 6749 5.2: exactly `error` and `error_description`, never cached."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "error_description"}, body
    assert body["error"] == error, body
    assert body["error_description"]
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


def confidential_grant(api: Api) -> tuple[dict[str, Any], dict[str, str]]:
    """A token response from the password grant of a new service client, and
    that client's Basic credentials."""
    credentials = basic(*service_client(api))
    response = post(
        api, "token", credentials, grant_type="password", username=EMAIL, password=PASSWORD
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body, credentials
