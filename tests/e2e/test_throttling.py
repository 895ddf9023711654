"""Throttling over HTTP: failed logins per account and per client IP, request budgets
of sign-up and refresh per IP, and counts shared by instances through Redis."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.e2e.conftest import PASSWORD, Api, build_api, make_settings
from tests.leaks import watch
from tests.redis_server import REDIS_URL, delete_keys, require_redis, unique_namespace

MAX_FAILURES = 3


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "login_max_failures": MAX_FAILURES,
        "signup_max_per_ip": 3,
        "refresh_max_per_ip": 3,
    }


def client_at(api: Api, ip: str) -> TestClient:
    """Another client of the same app, connecting from `ip`."""
    client = TestClient(api.client.app, client=(ip, 50000), raise_server_exceptions=False)
    watch(client)
    return client


def login(client: TestClient, email: str = "ada@example.com", password: str = PASSWORD) -> Any:
    return client.post("/v1/auth/login", json={"email": email, "password": password})


def assert_throttled(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "too_many_requests"
    assert int(response.headers["retry-after"]) >= 1
    assert "access_token" not in response.text


def test_an_account_is_throttled_after_max_failures_from_any_ips(api: Api) -> None:
    api.signup()
    for n in range(MAX_FAILURES):
        assert (
            login(client_at(api, f"198.51.100.{n}"), password="not the password").status_code == 401
        )

    # Even the right password, from an address never seen before.
    assert_throttled(login(client_at(api, "203.0.113.9")))
    assert login(client_at(api, "203.0.113.9"), email="bob@example.com").status_code == 401


def test_an_ip_is_throttled_after_max_failures_over_any_accounts(api: Api) -> None:
    api.signup()
    stuffer = client_at(api, "198.51.100.7")
    for n in range(MAX_FAILURES):
        assert login(stuffer, email=f"user{n}@example.com").status_code == 401

    assert_throttled(login(stuffer))
    assert login(client_at(api, "203.0.113.9")).status_code == 200


def test_the_addresses_of_one_ipv6_network_share_the_failures_of_an_ip(api: Api) -> None:
    # One host commonly holds a whole /64: a new address each try must not
    # buy a new budget.
    api.signup()
    for n in range(MAX_FAILURES):
        stuffer = client_at(api, f"2001:db8:1:2::{n + 1:x}")
        assert login(stuffer, email=f"user{n}@example.com").status_code == 401

    assert_throttled(login(client_at(api, "2001:db8:1:2::ffff")))
    assert login(client_at(api, "2001:db8:1:3::1")).status_code == 200


def test_signups_past_the_budget_of_an_ip_get_429(api: Api) -> None:
    crowd = client_at(api, "198.51.100.7")
    for n in range(3):
        body = {"email": f"user{n}@example.com", "password": PASSWORD}
        assert crowd.post("/v1/auth/signup", json=body).status_code == 201

    body = {"email": "user9@example.com", "password": PASSWORD}
    assert_throttled(crowd.post("/v1/auth/signup", json=body))
    assert client_at(api, "203.0.113.9").post("/v1/auth/signup", json=body).status_code == 201


def test_refreshes_past_the_budget_of_an_ip_get_429(api: Api) -> None:
    api.signup()
    churn = client_at(api, "198.51.100.7")
    token = login(churn).json()["refresh_token"]
    for _ in range(3):
        response = churn.post("/v1/auth/refresh", json={"refresh_token": token})
        assert response.status_code == 200
        token = response.json()["refresh_token"]

    assert_throttled(churn.post("/v1/auth/refresh", json={"refresh_token": token}))
    # The token was not spent by the refused request: another address may use it.
    other = client_at(api, "203.0.113.9").post("/v1/auth/refresh", json={"refresh_token": token})
    assert other.status_code == 200


def test_refresh_grants_on_the_token_endpoint_share_the_refresh_budget_of_an_ip(api: Api) -> None:
    api.signup()
    churn = client_at(api, "198.51.100.8")
    token = login(churn).json()["refresh_token"]
    for _ in range(3):
        response = churn.post(
            "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": token}
        )
        assert response.status_code == 200, response.text
        token = response.json()["refresh_token"]
    refused = churn.post(
        "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": token}
    )
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert set(refused.json()) == {"error", "error_description"}
    assert "access_token" not in refused.text


def test_parallel_guesses_at_one_account_get_no_more_than_the_allowed_tries(api: Api) -> None:
    api.signup()
    clients = [client_at(api, f"198.51.100.{n}") for n in range(30)]
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda c: login(c, password="wrong guess number x"), clients))
    statuses = [a.status_code for a in answers]
    assert statuses.count(401) <= MAX_FAILURES
    assert statuses.count(429) >= len(clients) - MAX_FAILURES


def test_parallel_guesses_from_one_ip_over_many_accounts_get_no_more_than_the_allowed_tries(
    api: Api,
) -> None:
    # Credential stuffing: every guess in flight holds a place among the IP's
    # failures, so a burst cannot all pass a check made before any failed.
    stuffer = client_at(api, "198.51.100.7")
    emails = [f"victim{n}@example.com" for n in range(30)]
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda e: login(stuffer, email=e, password="leaked pw 1"), emails))
    statuses = [a.status_code for a in answers]
    assert statuses.count(401) <= MAX_FAILURES
    assert statuses.count(429) >= len(emails) - MAX_FAILURES


@contextmanager
def instance(tmp_path: Path, namespace: str) -> Iterator[Api]:
    """One app instance over the shared database, counting in the shared Redis."""
    settings = make_settings(
        tmp_path,
        f"sqlite:///{tmp_path / 'shared.db'}",
        login_max_failures=MAX_FAILURES,
        redis_url=REDIS_URL,
        redis_key_prefix=namespace,
    )
    yield from build_api(settings)


def test_instances_sharing_redis_share_the_failure_count(tmp_path: Path) -> None:
    require_redis()
    namespace = unique_namespace()
    try:
        with ExitStack() as stack:
            first = stack.enter_context(instance(tmp_path, namespace))
            second = stack.enter_context(instance(tmp_path, namespace))
            first.signup()
            assert login(first.client, password="wrong password one").status_code == 401
            assert login(second.client, password="wrong password two").status_code == 401
            assert login(first.client, password="wrong password three").status_code == 401

            # Neither instance saw three failures itself; together they did.
            assert_throttled(login(second.client))
            assert_throttled(login(first.client))
    finally:
        delete_keys(namespace)


def test_an_unreachable_redis_fails_closed_with_503_not_500(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, f"sqlite:///{tmp_path / 'e2e.db'}", redis_url="redis://127.0.0.1:1"
    )
    for api in build_api(settings):
        for path, body in (
            ("/v1/auth/login", {"email": "ada@example.com", "password": PASSWORD}),
            ("/v1/auth/signup", {"email": "ada@example.com", "password": PASSWORD}),
            ("/v1/auth/refresh", {"refresh_token": "x" * 43}),
        ):
            response = api.client.post(path, json=body)
            assert response.status_code == 503, path
            assert response.json()["code"] == "service_unavailable"
            assert int(response.headers["retry-after"]) >= 1
