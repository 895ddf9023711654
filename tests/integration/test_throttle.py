"""Failed-login throttling and request budgets, in the process (memory://) and shared
through Redis."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from types import SimpleNamespace
from typing import NamedTuple

import pytest
import redis

import adapters.throttle
from adapters.throttle import IN_FLIGHT_SECONDS, LimitsLoginThrottle, LimitsRequestThrottle
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


class TwoInstances(NamedTuple):
    first: LimitsLoginThrottle
    second: LimitsLoginThrottle
    namespace: str


@pytest.fixture
def two_instances() -> Iterator[TwoInstances]:
    """Two instances' login throttles over one Redis, under a namespace of this test only."""
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
    yield TwoInstances(first, second, namespace)
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


def attempt(throttle: LimitsLoginThrottle, keys: list[str]) -> None:
    """An attempt that ends without a failure (a success, for the IP's count)."""
    with throttle.attempt(keys):
        pass


def fail(throttle: LimitsLoginThrottle, keys: list[str], times: int) -> None:
    for _ in range(times):
        throttle.record_failure(keys)


def test_failures_below_the_limit_do_not_block(make_throttle: ThrottleFactory) -> None:
    throttle = make_throttle()
    fail(throttle, ["account:alice"], MAX_FAILURES - 1)

    attempt(throttle, ["account:alice"])


def test_reaching_the_limit_blocks_with_a_retry_after(make_throttle: ThrottleFactory) -> None:
    throttle = make_throttle()
    fail(throttle, ["account:alice"], MAX_FAILURES)

    with pytest.raises(TooManyRequests) as raised:
        attempt(throttle, ["account:alice"])

    assert 1 <= raised.value.retry_after <= WINDOW


def test_attempts_ending_without_a_failure_count_none(make_throttle: ThrottleFactory) -> None:
    throttle = make_throttle()
    fail(throttle, ["account:alice"], MAX_FAILURES - 1)

    for _ in range(20):
        attempt(throttle, ["account:alice"])


def test_reset_clears_the_failures(make_throttle: ThrottleFactory) -> None:
    throttle = make_throttle()
    fail(throttle, ["account:alice", "ip:192.0.2.1"], MAX_FAILURES)

    throttle.reset(["account:alice", "ip:192.0.2.1"])

    attempt(throttle, ["account:alice", "ip:192.0.2.1"])
    fail(throttle, ["account:alice"], MAX_FAILURES - 1)
    attempt(throttle, ["account:alice"])


def test_keys_are_counted_independently(make_throttle: ThrottleFactory) -> None:
    throttle = make_throttle()
    fail(throttle, ["account:alice"], MAX_FAILURES)

    attempt(throttle, ["account:bob"])
    attempt(throttle, ["ip:192.0.2.1"])
    with pytest.raises(TooManyRequests):
        attempt(throttle, ["account:bob", "account:alice"])


def test_an_ip_failing_over_many_accounts_is_blocked(make_throttle: ThrottleFactory) -> None:
    throttle = make_throttle()
    for n in range(MAX_FAILURES):
        throttle.record_failure([f"account:user{n}", "ip:198.51.100.7"])

    attempt(throttle, ["account:user0", "ip:203.0.113.9"])
    with pytest.raises(TooManyRequests):
        attempt(throttle, ["account:fresh", "ip:198.51.100.7"])


def test_failures_expire_with_the_window(make_throttle: ThrottleFactory) -> None:
    throttle = make_throttle(window_seconds=1)
    fail(throttle, ["account:alice"], MAX_FAILURES)
    with pytest.raises(TooManyRequests) as raised:
        attempt(throttle, ["account:alice"])
    assert raised.value.retry_after == 1

    time.sleep(1.2)

    attempt(throttle, ["account:alice"])


IP = ["ip:192.0.2.1"]


def hold(held: ExitStack, throttle: LimitsLoginThrottle, places: int) -> None:
    """`places` attempts from IP in flight until `held` closes."""
    for _ in range(places):
        held.enter_context(throttle.attempt(IP))


def assert_refused(throttle: LimitsLoginThrottle) -> None:
    with pytest.raises(TooManyRequests), throttle.attempt(IP):
        pass


def assert_every_place_free(throttle: LimitsLoginThrottle) -> None:
    with ExitStack() as held:
        hold(held, throttle, MAX_FAILURES)


def test_attempts_in_flight_count_against_the_failures(make_throttle: ThrottleFactory) -> None:
    throttle = make_throttle()
    fail(throttle, IP, 1)
    with ExitStack() as held:
        hold(held, throttle, MAX_FAILURES - 1)
        with pytest.raises(TooManyRequests) as refused, throttle.attempt(IP):
            pass
        assert (refused.value.retry_after, refused.value.reason) == (1, "in_flight")
    # Those attempts ended without a failure: their places are free again.
    with throttle.attempt(IP), throttle.attempt(IP):
        pass


def test_a_refused_attempt_holds_no_place(make_throttle: ThrottleFactory) -> None:
    throttle = make_throttle()
    with ExitStack() as held:
        hold(held, throttle, MAX_FAILURES)
        for _ in range(5):
            assert_refused(throttle)
    assert_every_place_free(throttle)


def test_an_attempt_failing_within_keeps_its_failure(make_throttle: ThrottleFactory) -> None:
    throttle = make_throttle()
    for _ in range(MAX_FAILURES):
        with throttle.attempt(IP):
            throttle.record_failure(IP)
    with pytest.raises(TooManyRequests) as refused, throttle.attempt(IP):
        pass
    assert refused.value.reason == "failures"
    assert refused.value.retry_after > 1
    with throttle.attempt(["ip:192.0.2.2"]):
        pass


def test_instances_on_one_redis_see_each_others_attempts_in_flight(
    two_instances: TwoInstances,
) -> None:
    first, second, namespace = two_instances
    with ExitStack() as held:
        hold(held, first, MAX_FAILURES)
        assert_refused(second)
    with second.attempt(IP):
        pass
    # Every place given back: no count is left in Redis.
    assert in_flight_keys(namespace) == []


def test_a_place_lost_in_redis_leaves_nothing_behind_once_its_attempts_end(
    two_instances: TwoInstances,
) -> None:
    # A key evicted or deleted under attempts in flight (they then go uncounted
    # until they end): their ends must not leave anything that lets later
    # attempts through.
    throttle, _, namespace = two_instances
    with throttle.attempt(IP), throttle.attempt(IP):
        for key in in_flight_keys(namespace):
            redis.Redis.from_url(REDIS_URL).delete(key)
    with ExitStack() as held:
        hold(held, throttle, MAX_FAILURES)
        assert_refused(throttle)


def test_a_lost_answer_from_redis_leaves_no_place_taken(two_instances: TwoInstances) -> None:
    # Redis held the place, but its answer never came (a timeout): the attempt
    # fails closed and still gives the place back.
    throttle = two_instances.first
    in_flight = throttle._in_flight
    enter = in_flight.enter

    def enter_then_lose_the_answer(key: str, attempt: str) -> int:
        enter(key, attempt)
        raise redis.TimeoutError("the answer was lost")

    in_flight.enter = enter_then_lose_the_answer  # type: ignore[method-assign]
    with pytest.raises(ServiceUnavailable):
        attempt(throttle, IP)
    in_flight.enter = enter  # type: ignore[method-assign]

    assert_every_place_free(throttle)


def test_a_place_never_given_back_lapses_however_busy_the_key(
    two_instances: TwoInstances,
) -> None:
    # Its process died mid-login. Other attempts keep coming; the place still lapses.
    throttle = LimitsLoginThrottle(
        storage_uri=REDIS_URL,
        max_failures=MAX_FAILURES,
        window_seconds=WINDOW,
        namespace=two_instances.namespace,
        in_flight_seconds=1,
    )
    throttle._in_flight.enter(IP[0], "an attempt whose process died")
    with ExitStack() as held:
        hold(held, throttle, MAX_FAILURES - 1)
        assert_refused(throttle)
    busy_until = time.monotonic() + 1.5
    while time.monotonic() < busy_until:
        attempt(throttle, IP)  # each renews the key's own expiry
        time.sleep(0.1)
    assert_every_place_free(throttle)


def test_an_instance_whose_clock_runs_fast_does_not_lapse_the_others_places(
    two_instances: TwoInstances, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, _ = two_instances
    fast = SimpleNamespace(time=lambda: time.time() + 2 * IN_FLIGHT_SECONDS)
    with ExitStack() as held:
        hold(held, first, MAX_FAILURES)
        # From here the adapter's clock runs fast: the first's places were
        # entered before, so only the second enters with it.
        monkeypatch.setattr(adapters.throttle, "time", fast)
        assert_refused(second)


def test_an_attempt_counts_in_flight_before_it_reads_the_failures(
    make_throttle: ThrottleFactory,
) -> None:
    # Another attempt, from start to failure, runs just after this one read the
    # failures. Had it read them before entering, both would pass a limit of one.
    throttle = make_throttle(max_failures=1)
    limiter = throttle._limiter
    read = limiter.get_window_stats
    outcomes: list[str] = []

    def another_attempt_meanwhile(*args: object) -> object:
        limiter.get_window_stats = read  # type: ignore[method-assign]
        stats = read(*args)  # type: ignore[arg-type]
        try:
            with throttle.attempt(IP):
                throttle.record_failure(IP)
            outcomes.append("the other passed")
        except TooManyRequests:
            outcomes.append("the other refused")
        return stats

    limiter.get_window_stats = another_attempt_meanwhile  # type: ignore[method-assign, assignment]
    try:
        attempt(throttle, IP)
        outcomes.append("this passed")
    except TooManyRequests:
        outcomes.append("this refused")

    assert outcomes.count("the other passed") + outcomes.count("this passed") == 1


def in_flight_keys(namespace: str) -> list[bytes]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return list(client.scan_iter(match=f"*{namespace}/in-flight/*"))
    finally:
        client.close()


def test_two_instances_on_one_redis_share_the_count(two_instances: TwoInstances) -> None:
    first, second, _ = two_instances
    fail(first, ["account:alice"], MAX_FAILURES - 1)
    fail(second, ["account:alice"], 1)

    with pytest.raises(TooManyRequests):
        attempt(first, ["account:alice"])
    second.reset(["account:alice"])
    attempt(first, ["account:alice"])


def test_an_unreachable_redis_fails_closed_as_service_unavailable() -> None:
    login = LimitsLoginThrottle(
        storage_uri="redis://127.0.0.1:1", max_failures=MAX_FAILURES, window_seconds=WINDOW
    )
    requests = LimitsRequestThrottle(
        storage_uri="redis://127.0.0.1:1", max_requests=1, window_seconds=WINDOW, namespace="x"
    )
    with pytest.raises(ServiceUnavailable):
        attempt(login, ["account:alice"])
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
