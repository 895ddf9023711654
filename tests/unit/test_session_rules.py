"""The pure rules of sessions: start, refresh token expiry, and judging a presented token."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from uuid import UUID, uuid4

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from domain.errors import InvalidInput, InvalidRefreshToken
from domain.session import (
    MAX_DEVICE_NAME_LENGTH,
    HandBackSuccessor,
    RefreshDecision,
    RefreshToken,
    RevokeForReuse,
    Rotate,
    Session,
    SessionPolicy,
    judge_refresh,
    refresh_token_expiry,
    start_session,
)
from tests.fakes import T0

POLICY = SessionPolicy(
    access_token_ttl=timedelta(seconds=900),
    refresh_idle_ttl=timedelta(seconds=3600),
    max_age=timedelta(seconds=86400),
    reuse_grace=timedelta(seconds=10),
)
IDLE = POLICY.refresh_idle_ttl
GRACE = POLICY.reuse_grace


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


def a_session(now: datetime = T0, device_name: str | None = None) -> Session:
    return start_session(
        session_id=uuid4(),
        user_id=uuid4(),
        client_id="latchkey",
        device_name=device_name,
        now=now,
        policy=POLICY,
    )


def a_token(session: Session, issued_at: datetime) -> RefreshToken:
    return RefreshToken(
        id=uuid4(),
        session_id=session.id,
        token_hash=uuid4().hex,
        issued_at=issued_at,
        expires_at=refresh_token_expiry(session, issued_at, POLICY),
    )


@pytest.mark.parametrize(
    "name", ["phone\x00", "phone\x1b[31m", "phone\x7f", "phone\x9b", "x" * 256]
)
def test_a_session_is_not_started_with_an_unreadable_device_name(name: str) -> None:
    with pytest.raises(InvalidInput, match="device_name"):
        a_session(device_name=name)


@pytest.mark.parametrize(
    "name", [None, "", "Alice\u2019s phone \U0001f4f1", "x" * MAX_DEVICE_NAME_LENGTH]
)
def test_a_session_is_started_with_a_readable_device_name(name: str | None) -> None:
    assert a_session(device_name=name).device_name == name


def spend(token: RefreshToken, successor: RefreshToken, at: datetime) -> RefreshToken:
    return replace(token, rotated_at=at, successor_id=successor.id, successor_seal=b"sealed")


@dataclass
class Chain:
    """A session with a parent token rotated at T0 + 100 s into an unused successor."""

    session: Session = field(default_factory=a_session)

    def __post_init__(self) -> None:
        self.rotated_at = T0 + seconds(100)
        self.successor = a_token(self.session, self.rotated_at)
        self.parent = spend(a_token(self.session, T0), self.successor, self.rotated_at)

    def judge_parent(self, delay: timedelta) -> RefreshDecision:
        now = self.rotated_at + delay
        return judge_refresh(self.parent, self.session, self.successor, now, POLICY)


# -- start_session and refresh_token_expiry ----------------------------------


def test_a_new_session_ends_after_the_maximum_age_whatever_happens() -> None:
    session = a_session(T0)

    assert session.created_at == session.last_used_at == T0
    assert session.expires_at == T0 + POLICY.max_age
    assert session.revoked_at is None
    assert session.is_live(T0)
    assert not session.is_live(session.expires_at)


def test_a_refresh_token_lives_for_the_idle_lifetime_from_its_issue() -> None:
    session = a_session(T0)

    assert refresh_token_expiry(session, T0 + seconds(500), POLICY) == T0 + seconds(500) + IDLE


def test_a_refresh_token_never_outlives_its_session() -> None:
    session = a_session(T0)
    near_the_end = session.expires_at - seconds(60)

    assert refresh_token_expiry(session, near_the_end, POLICY) == session.expires_at


@given(offset=st.integers(min_value=0, max_value=86400 * 1000))
@settings(max_examples=100, deadline=None)
def test_refresh_token_expiry_is_the_idle_lifetime_capped_by_the_absolute_expiry(
    offset: int,
) -> None:
    session = a_session(T0)
    now = T0 + timedelta(milliseconds=offset)

    expiry = refresh_token_expiry(session, now, POLICY)

    assert expiry <= session.expires_at
    assert expiry <= now + IDLE
    assert expiry in (session.expires_at, now + IDLE)


# -- judge_refresh: every branch ----------------------------------------------


def test_an_unspent_live_token_is_rotated() -> None:
    session = a_session()
    token = a_token(session, T0)

    assert judge_refresh(token, session, None, T0 + seconds(1), POLICY) == Rotate()


def test_an_unspent_token_is_rotated_up_to_the_last_moment_of_its_idle_lifetime() -> None:
    session = a_session()
    token = a_token(session, T0)
    last_moment = token.expires_at - timedelta(microseconds=1)

    assert judge_refresh(token, session, None, last_moment, POLICY) == Rotate()


def test_an_unspent_token_is_dead_once_its_idle_lifetime_is_over() -> None:
    session = a_session()
    token = a_token(session, T0)

    with pytest.raises(InvalidRefreshToken, match="expired"):
        judge_refresh(token, session, None, token.expires_at, POLICY)


def test_no_token_of_a_revoked_session_is_judged_at_all() -> None:
    chain = Chain()
    chain.session = replace(chain.session, revoked_at=T0 + seconds(50))

    with pytest.raises(InvalidRefreshToken, match="not live"):
        judge_refresh(chain.successor, chain.session, None, T0 + seconds(101), POLICY)
    with pytest.raises(InvalidRefreshToken, match="not live"):
        chain.judge_parent(seconds(1))


def test_no_token_is_judged_once_the_session_reached_its_absolute_expiry() -> None:
    session = a_session()
    token = replace(a_token(session, T0), expires_at=session.expires_at + IDLE)

    with pytest.raises(InvalidRefreshToken, match="not live"):
        judge_refresh(token, session, None, session.expires_at, POLICY)


def test_a_spent_token_presented_within_grace_hands_back_its_unused_successor() -> None:
    chain = Chain()

    assert chain.judge_parent(seconds(3)) == HandBackSuccessor(chain.successor)


def test_the_grace_window_includes_its_last_second() -> None:
    chain = Chain()

    assert chain.judge_parent(GRACE) == HandBackSuccessor(chain.successor)


def test_a_spent_token_presented_just_after_grace_is_reuse() -> None:
    chain = Chain()

    assert chain.judge_parent(GRACE + timedelta(microseconds=1)) == RevokeForReuse()


def test_a_spent_token_presented_long_after_its_rotation_is_reuse() -> None:
    chain = Chain()

    assert chain.judge_parent(seconds(3000)) == RevokeForReuse()


def test_a_spent_token_is_reuse_within_grace_once_its_successor_was_used() -> None:
    chain = Chain()
    grandchild = a_token(chain.session, chain.rotated_at + seconds(1))
    chain.successor = spend(chain.successor, grandchild, chain.rotated_at + seconds(1))

    assert chain.judge_parent(seconds(2)) == RevokeForReuse()


def test_a_spent_token_is_reuse_within_grace_when_its_successor_has_expired() -> None:
    chain = Chain()
    chain.successor = replace(chain.successor, expires_at=chain.rotated_at + seconds(1))

    assert chain.judge_parent(seconds(2)) == RevokeForReuse()


def test_a_spent_token_without_a_known_successor_is_reuse() -> None:
    chain = Chain()
    now = chain.rotated_at + seconds(1)

    assert judge_refresh(chain.parent, chain.session, None, now, POLICY) == RevokeForReuse()


def test_a_retry_within_grace_after_the_spent_token_expired_is_refused_without_revoking() -> None:
    session = a_session()
    parent = a_token(session, T0)
    rotated_at = parent.expires_at - seconds(2)
    successor = a_token(session, rotated_at)
    parent = spend(parent, successor, rotated_at)

    with pytest.raises(InvalidRefreshToken, match="expired"):
        judge_refresh(parent, session, successor, rotated_at + seconds(5), POLICY)


# -- properties ----------------------------------------------------------------

delays = st.one_of(
    st.integers(min_value=0, max_value=12),
    st.integers(min_value=3590, max_value=3610),
    st.integers(min_value=0, max_value=90000),
)
steps = st.lists(
    st.tuples(delays, st.booleans(), st.integers(min_value=0, max_value=1000)),
    max_size=60,
)


@dataclass
class Accepted:
    token: RefreshToken
    session: Session
    now: datetime


def play(schedule: list[tuple[int, bool, int]]) -> list[Accepted]:
    """Present tokens of one session following `schedule`; return every accepted presentation.

    Each step waits some seconds, then presents the newest token, or (when the
    flag is set) any earlier one. The chain evolves exactly as judge_refresh says.
    """
    session = a_session(T0)
    tokens: dict[UUID, RefreshToken] = {}
    order: list[UUID] = []
    first = a_token(session, T0)
    tokens[first.id] = first
    order.append(first.id)
    now = T0
    accepted: list[Accepted] = []
    for wait, replay, pick in schedule:
        now += seconds(wait)
        token = tokens[order[pick % len(order)] if replay else order[-1]]
        successor = tokens.get(token.successor_id) if token.successor_id else None
        try:
            decision = judge_refresh(token, session, successor, now, POLICY)
        except InvalidRefreshToken:
            continue
        if isinstance(decision, RevokeForReuse):
            session = replace(session, revoked_at=now)
            continue
        accepted.append(Accepted(token, session, now))
        if isinstance(decision, Rotate):
            fresh = a_token(session, now)
            tokens[token.id] = spend(token, fresh, now)
            tokens[fresh.id] = fresh
            order.append(fresh.id)
            session = session.used(now)
    return accepted


@given(schedule=steps)
@example(schedule=[(3595, False, 0), (8, True, 0)])
@example(schedule=[(3500, False, 0)] * 30)
@settings(max_examples=300, deadline=None)
def test_no_token_is_ever_accepted_after_the_session_or_its_own_idle_lifetime_ended(
    schedule: list[tuple[int, bool, int]],
) -> None:
    for seen in play(schedule):
        assert seen.now < seen.session.expires_at
        assert seen.now < seen.token.expires_at
        assert seen.token.expires_at <= seen.session.expires_at


def test_continuous_rotation_does_not_extend_a_session_past_its_absolute_expiry() -> None:
    accepted = play([(3500, False, 0)] * 30)

    assert len(accepted) == 86400 // 3500  # 24 rotations fit, the 25th is too late
    assert all(seen.now < seen.session.expires_at for seen in accepted)


@given(
    delay_ms=st.integers(min_value=0, max_value=30_000),
    successor_used=st.booleans(),
)
@example(delay_ms=10_000, successor_used=False)
@example(delay_ms=10_001, successor_used=False)
@settings(max_examples=200, deadline=None)
def test_the_grace_rule_hands_back_the_successor_only_within_grace_while_it_is_unused(
    delay_ms: int, successor_used: bool
) -> None:
    chain = Chain()
    if successor_used:
        grandchild = a_token(chain.session, chain.rotated_at)
        chain.successor = spend(chain.successor, grandchild, chain.rotated_at)
    delay = timedelta(milliseconds=delay_ms)

    decision = chain.judge_parent(delay)

    if delay <= GRACE and not successor_used:
        assert decision == HandBackSuccessor(chain.successor)
    else:
        assert decision == RevokeForReuse()
