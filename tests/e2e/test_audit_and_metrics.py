"""The audit log, request ids and /metrics over HTTP (SECURITY 31; issue 4, item 5)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import structlog
from dependency_injector import providers
from prometheus_client.parser import text_string_to_metric_families

from adapters.audit import StructlogAuditLog
from adapters.metrics import CountingAuditLog
from tests.e2e.conftest import OTHER_PASSWORD, PASSWORD, Api

AuditLines = Callable[[], list[dict[str, Any]]]
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"login_max_failures": 3}


@pytest.fixture
def audit_lines(api: Api) -> AuditLines:
    """The real audit adapter and metrics, writing their JSON lines to a buffer."""
    sink = io.StringIO()
    audit = StructlogAuditLog(logger=structlog.PrintLogger(sink))
    api.container.audit.override(
        providers.Singleton(CountingAuditLog, audit, api.container.metrics)
    )
    return lambda: [json.loads(line) for line in sink.getvalue().splitlines()]


class Journey:
    """Requests that each carry their own request id, and what the audit must say of them."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.expected: list[tuple[str, str | None, str | None, str]] = []
        self.refresh_tokens: list[str] = []
        self.count = 0

    def call(
        self,
        method: str,
        path: str,
        body: object = None,
        token: str | None = None,
        audit: tuple[str, str | None, str | None] | None = None,
    ) -> httpx.Response:
        self.count += 1
        request_id = f"journey-{self.count}"
        headers = {"X-Request-ID": request_id}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response: httpx.Response = self.api.client.request(method, path, json=body, headers=headers)
        assert response.headers["x-request-id"] == request_id
        if response.status_code == 200 and "refresh_token" in response.json():
            self.refresh_tokens.append(response.json()["refresh_token"])
        if audit is not None:
            self.expected.append((*audit, request_id))
        return response

    def login(self, password: str = PASSWORD, email: str = "ada@example.com") -> Any:
        return self.call("POST", "/v1/auth/login", {"email": email, "password": password})


def test_every_security_event_is_one_json_line_with_user_session_client_ip_and_request_id(
    api: Api, audit_lines: AuditLines
) -> None:
    j = Journey(api)
    user = j.call(
        "POST", "/v1/auth/signup", {"email": "ada@example.com", "password": PASSWORD}
    ).json()["id"]
    j.expected.append(("signup", user, None, "journey-1"))
    phone = j.login().json()
    j.expected.append(("login", user, phone["session_id"], "journey-2"))
    assert j.login("not the password").status_code == 401
    j.expected.append(("login_failed", user, None, "journey-3"))
    laptop = j.login().json()
    j.expected.append(("login", user, laptop["session_id"], "journey-4"))
    phone_sid = phone["session_id"]
    j.call("POST", "/v1/auth/refresh", {"refresh_token": phone["refresh_token"]},
           audit=("refresh", user, phone_sid))  # fmt: skip
    api.clock.advance(11)
    replay = j.call("POST", "/v1/auth/refresh", {"refresh_token": phone["refresh_token"]},
                    audit=("refresh_reuse_detected", user, phone_sid))  # fmt: skip
    assert replay.status_code == 401
    tablet = j.login().json()
    j.expected.append(("login", user, tablet["session_id"], f"journey-{j.count}"))
    j.call("DELETE", f"/v1/sessions/{tablet['session_id']}", token=laptop["access_token"],
           audit=("session_revoked", user, tablet["session_id"]))  # fmt: skip
    change = {"current_password": PASSWORD, "new_password": OTHER_PASSWORD}
    j.call("POST", "/v1/users/me/password", change, token=laptop["access_token"],
           audit=("password_changed", user, laptop["session_id"]))  # fmt: skip
    j.call("POST", "/v1/auth/logout", {"scope": "local"}, token=laptop["access_token"],
           audit=("logout", user, laptop["session_id"]))  # fmt: skip
    last = j.login(OTHER_PASSWORD).json()
    j.expected.append(("login", user, last["session_id"], f"journey-{j.count}"))
    j.call("DELETE", "/v1/users/me", {"password": OTHER_PASSWORD}, token=last["access_token"],
           audit=("account_deleted", user, last["session_id"]))  # fmt: skip
    for n in range(2):  # with the wrong password above: 3 failures from this address
        j.login(email=f"nobody{n}@example.com")
        j.expected.append(("login_failed", None, None, f"journey-{j.count}"))
    assert j.login().status_code == 429
    j.expected.append(("throttled", None, None, f"journey-{j.count}"))

    # Creating the first signing key (on the first login) is audited too; it is
    # not an event of this journey.
    lines = [line for line in audit_lines() if not line["event"].startswith("signing_key")]
    assert [
        (line["event"], line["user_id"], line["session_id"], line["request_id"]) for line in lines
    ] == j.expected
    for line in lines:
        assert line["client_ip"] == "testclient"
        assert line["logger"] == "latchkey.audit"
        assert line["timestamp"]
    text = json.dumps(lines)
    for secret in (PASSWORD, OTHER_PASSWORD, *j.refresh_tokens):
        assert secret not in text


def test_every_response_carries_a_request_id(api: Api) -> None:
    api.signup()
    responses = [
        api.client.get("/healthz"),
        api.client.get("/readyz"),
        api.client.get("/metrics"),
        api.client.get("/no/such/path"),
        api.client.put("/v1/auth/login"),
        api.client.post("/v1/auth/login", json={}),
        api.client.post("/v1/auth/login", json={"email": "x@example.com", "password": "nope"}),
        api.client.post("/v1/auth/signup", content=b"x" * 70_000),
        api.client.get("/v1/users/me"),
        api.client.post("/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD}),
    ]
    ids = [response.headers.get("x-request-id") for response in responses]
    assert all(ids), [r.status_code for r in responses]
    assert len(set(ids)) == len(ids)

    kept = api.client.get("/healthz", headers={"X-Request-ID": "trace-4f1c.a_b-9"})
    assert kept.headers["x-request-id"] == "trace-4f1c.a_b-9"
    replaced = api.client.get("/healthz", headers={"X-Request-ID": "evil id\\r\\nSet-Cookie: x"})
    assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"])


def _samples(api: Api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_count_each_security_event_and_time_each_route_by_its_template(
    api: Api,
) -> None:
    api.signup()
    first, second = api.login(), api.login()
    api.client.post("/v1/auth/login", json={"email": "ada@example.com", "password": "wrong!"})
    api.refresh(first["refresh_token"])
    api.me(second["access_token"])
    api.client.head("/healthz")  # a load balancer's probe
    for pair in (first, second):
        api.client.delete(
            f"/v1/sessions/{pair['session_id']}",
            headers={"Authorization": f"Bearer {second['access_token']}"},
        )
    api.client.get("/no/such/path")
    api.client.request("BREW", "/v1/auth/login")
    api.client.get("/metrics")

    samples = _samples(api)

    def events(name: str) -> float:
        return samples[("latchkey_security_events_total", (("event", name),))]

    assert events("signup") == 1
    assert events("login") == 2
    assert events("login_failed") == 1
    assert events("refresh") == 1
    assert events("session_revoked") == 2
    assert events("refresh_reuse_detected") == 0  # listed before it ever happens

    def requests(method: str, route: str) -> float:
        key = (("method", method), ("route", route))
        return samples[("latchkey_http_request_duration_seconds_count", key)]

    assert requests("POST", "/v1/auth/login") == 3
    assert requests("DELETE", "/v1/sessions/{session_id}") == 2
    assert requests("GET", "/v1/users/me") == 1
    assert requests("HEAD", "/healthz") == 1  # served as a GET, counted as asked
    assert requests("GET", "unmatched") == 1
    assert requests("OTHER", "/v1/auth/login") == 1
    routes = {dict(labels).get("route") for _, labels in samples}
    assert "/metrics" not in routes  # scraping does not count itself
    assert not any(UUID_TEXT.search(route or "") for route in routes)  # bounded labels
