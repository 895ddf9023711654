"""Throttling as the use cases see it: request budgets per IP, and the audit of
every refusal."""

from __future__ import annotations

import pytest

from application.login import LogInCommand, throttle_keys
from application.throttling import LimitRequests
from domain.errors import InvalidCredentials, TooManyRequests
from tests.fakes import FakeAuditLog, FakeRequestThrottle
from tests.unit.conftest import EMAIL, PASSWORD, World


def test_requests_past_the_budget_of_an_ip_are_refused_and_audited() -> None:
    audit = FakeAuditLog()
    limit = LimitRequests(FakeRequestThrottle(budget=2), audit, "signup")
    limit("198.51.100.7")
    limit("198.51.100.7")

    with pytest.raises(TooManyRequests) as refused:
        limit("198.51.100.7")

    assert refused.value.retry_after == 30
    assert audit.events == [
        {
            "event": "throttled",
            "user_id": None,
            "session_id": None,
            "action": "signup",
            "reason": "requests",
        }
    ]
    limit("203.0.113.9")


def test_each_action_and_ip_has_its_own_budget() -> None:
    throttle = FakeRequestThrottle(budget=1)
    signup = LimitRequests(throttle, FakeAuditLog(), "signup")
    refresh = LimitRequests(throttle, FakeAuditLog(), "refresh")

    signup("198.51.100.7")
    refresh("198.51.100.7")
    signup("203.0.113.9")

    assert set(throttle.hits) == {
        "signup:ip:198.51.100.7",
        "refresh:ip:198.51.100.7",
        "signup:ip:203.0.113.9",
    }


def test_a_request_without_a_client_address_is_not_counted() -> None:
    throttle = FakeRequestThrottle(budget=0)

    LimitRequests(throttle, FakeAuditLog(), "refresh")(None)

    assert throttle.hits == {}


def test_a_throttled_login_is_audited_and_starts_no_session(world: World) -> None:
    world.registered()
    for _ in range(world.throttle.max_failures):
        with pytest.raises(InvalidCredentials):
            world.log_in(LogInCommand(EMAIL, "not the password", client_ip="x"))

    with pytest.raises(TooManyRequests):
        world.log_in(LogInCommand(EMAIL, PASSWORD, client_ip="x"))

    assert world.audit.events[-1] == {
        "event": "throttled",
        "user_id": None,
        "session_id": None,
        "action": "login",
        "reason": "failures",
    }
    assert world.store.sessions == {}


def test_a_login_throttled_by_attempts_in_flight_says_so(world: World) -> None:
    # A burst from one address: the failures alone do not fill its limit yet.
    world.registered()
    with pytest.raises(InvalidCredentials):
        world.log_in(LogInCommand(EMAIL, "not the password", client_ip="x"))
    for key in throttle_keys(EMAIL, "x")[1:]:
        world.throttle.in_flight[key] = world.throttle.max_failures - 1

    with pytest.raises(TooManyRequests) as refused:
        world.log_in(LogInCommand("other@example.com", PASSWORD, client_ip="x"))

    assert refused.value.retry_after == 1
    assert world.audit.events[-1]["reason"] == "in_flight"


def test_a_failed_login_names_the_account_under_attack_when_it_exists(world: World) -> None:
    user = world.registered()
    with pytest.raises(InvalidCredentials):
        world.log_in(LogInCommand(EMAIL, "not the password"))
    with pytest.raises(InvalidCredentials):
        world.log_in(LogInCommand("nobody@example.com", "not the password"))

    failures = [e for e in world.audit.events if e["event"] == "login_failed"]
    assert [e["user_id"] for e in failures] == [user.id, None]
