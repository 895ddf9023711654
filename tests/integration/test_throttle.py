"""Failed-login throttling and request budgets, in the process (memory://) and shared
through Redis."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from adapters.throttle import LimitsLoginThrottle, LimitsRequestThrottle
from domain.errors import ServiceUnavailable, TooManyRequests
from tests.redis_server import REDIS_URL, delete_keys, require_redis, unique_namespace

MAX_FAILURES = 3
WINDOW = 60

ThrottleFactory = Callable[..., LimitsLoginThrottle]


@pytest.fixture(params=["memory", "redis"])
def make_throttle(request: pytest.FixtureRequest) -> Iterator[ThrottleFactory]:
    """Builds throttles over one store; on Redis, under a namespace of this test only."""
    namespace = unique_namespace()
    if request.param == "memory":
        uri = "memory://"
    else:
        require_redis()
        uri = REDIS_URL

    def build(
        max_failures: int = MAX_FAILURES, window_seconds: int = WINDOW
    ) -> LimitsLoginThrottle:
        return LimitsLoginThrottle(
            storage_uri=uri,
            max_failures=max_failures,
            window_seconds=window_seconds,
            namespace=namespace,
        )

    yield build
    if request.param == "redis":
        delete_keys(namespace)


RequestThrottleFactory = Callable[..., LimitsRequestThrottle]


@pytest.fixture(params=["memory", "redis"])
def make_request_throttle(request: pytest.FixtureRequest) -> Iterator[RequestThrottleFactory]:
    namespace = unique_namespace()
    if request.param == "redis":
        require_redis()
    uri = REDIS_URL if request.param == "redis" else "memory://"

    def build(max_requests: int, window_seconds: int = WINDOW) -> LimitsRequestThrottle:
        return LimitsRequestThrottle(
            storage_uri=uri,
            max_requests=max_requests,
            window_seconds=window_seconds,
            namespace=namespace,
        )

    yield build
    if request.param == "redis":
        delete_keys(namespace)


def fail(throttle: LimitsLoginThrottle, keys: list[str], times: int) -> None:
    for _ in range(times):
        throttle.record_failure(keys)


def test_failures_below_the_limit_do_not_block(make_throttle: ThrottleFactory) -> None:
    throttle = make_throttle()
    fail(throttle, ["account:alice"], MAX_FAILURES - 1)

    throttle.check(["account:alice"])


def test_reaching_the_limit_blocks_with_a_retry_after(make_throttle: ThrottleFactory) -> None:
    throttle = make_throttle()
    fail(throttle, ["account:alice"], MAX_FAILURES)

    with pytest.raises(TooManyRequests) as raised:
        throttle.check(["account:alice"])

    assert 1 <= raised.value.retry_after <= WINDOW


def test_checking_does_not_count_as_a_failure(make_throttle: ThrottleFactory) -> None:
    throttle = make_throttle()
    fail(throttle, ["account:alice"], MAX_FAILURES - 1)

    for _ in range(20):
        throttle.check(["account:alice"])


def test_reset_clears_the_failures(make_throttle: ThrottleFactory) -> None:
    throttle = make_throttle()
    fail(throttle, ["account:alice", "ip:192.0.2.1"], MAX_FAILURES)

    throttle.reset(["account:alice", "ip:192.0.2.1"])

    throttle.check(["account:alice", "ip:192.0.2.1"])
    fail(throttle, ["account:alice"], MAX_FAILURES - 1)
    throttle.check(["account:alice"])


def test_keys_are_counted_independently(make_throttle: ThrottleFactory) -> None:
    throttle = make_throttle()
    fail(throttle, ["account:alice"], MAX_FAILURES)

    throttle.check(["account:bob"])
    throttle.check(["ip:192.0.2.1"])
    with pytest.raises(TooManyRequests):
        throttle.check(["account:bob", "account:alice"])


def test_an_ip_failing_over_many_accounts_is_blocked(make_throttle: ThrottleFactory) -> None:
    throttle = make_throttle()
    for n in range(MAX_FAILURES):
        throttle.record_failure([f"account:user{n}", "ip:198.51.100.7"])

    throttle.check(["account:user0", "ip:203.0.113.9"])
    with pytest.raises(TooManyRequests):
        throttle.check(["account:fresh", "ip:198.51.100.7"])


def test_failures_expire_with_the_window(make_throttle: ThrottleFactory) -> None:
    throttle = make_throttle(window_seconds=1)
    fail(throttle, ["account:alice"], MAX_FAILURES)
    with pytest.raises(TooManyRequests) as raised:
        throttle.check(["account:alice"])
    assert raised.value.retry_after == 1

    time.sleep(1.2)

    throttle.check(["account:alice"])


def test_two_instances_on_one_redis_share_the_count() -> None:
    require_redis()
    namespace = unique_namespace()
    first, second = (
        LimitsLoginThrottle(
            storage_uri=REDIS_URL,
            max_failures=MAX_FAILURES,
            window_seconds=WINDOW,
            namespace=namespace,
        )
        for _ in range(2)
    )

    fail(first, ["account:alice"], MAX_FAILURES - 1)
    fail(second, ["account:alice"], 1)

    with pytest.raises(TooManyRequests):
        first.check(["account:alice"])
    second.reset(["account:alice"])
    first.check(["account:alice"])


def test_an_unreachable_redis_fails_closed_as_service_unavailable() -> None:
    login = LimitsLoginThrottle(
        storage_uri="redis://127.0.0.1:1", max_failures=MAX_FAILURES, window_seconds=WINDOW
    )
    requests = LimitsRequestThrottle(
        storage_uri="redis://127.0.0.1:1", max_requests=1, window_seconds=WINDOW, namespace="x"
    )
    with pytest.raises(ServiceUnavailable):
        login.check(["account:alice"])
    with pytest.raises(ServiceUnavailable):
        login.record_failure(["account:alice"])
    with pytest.raises(ServiceUnavailable):
        requests.hit("signup:ip:192.0.2.1")


def test_a_request_budget_refuses_the_request_past_it_with_a_retry_after(
    make_request_throttle: RequestThrottleFactory,
) -> None:
    throttle = make_request_throttle(max_requests=2)
    throttle.hit("signup:ip:192.0.2.1")
    throttle.hit("signup:ip:192.0.2.1")

    with pytest.raises(TooManyRequests) as raised:
        throttle.hit("signup:ip:192.0.2.1")

    assert 1 <= raised.value.retry_after <= WINDOW
    throttle.hit("signup:ip:192.0.2.2")


def test_refused_requests_do_not_extend_the_block(
    make_request_throttle: RequestThrottleFactory,
) -> None:
    throttle = make_request_throttle(max_requests=1, window_seconds=1)
    throttle.hit("refresh:ip:192.0.2.1")
    for _ in range(5):
        with pytest.raises(TooManyRequests):
            throttle.hit("refresh:ip:192.0.2.1")

    time.sleep(1.2)

    throttle.hit("refresh:ip:192.0.2.1")


def test_limits_below_one_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        LimitsLoginThrottle(storage_uri="memory://", max_failures=0, window_seconds=60)
