"""Random walks through log in, refresh, replay, log out and the passing of time.

Hypothesis drives the real use cases over the fakes while a small model keeps,
for every refresh token handed out, when it was issued, when it was spent and
what its successor is. After each presentation of a token the machine checks
the rules of rotation as stated in API.md ("Tokens"):

* a spent token only ever yields a pair when presented within the grace window
  of its rotation while its successor is unused, and then exactly that successor;
* once a reuse was detected or a logout happened, no token of that session
  ever yields a pair again;
* no token works at or after the session's absolute expiry;

and that the model, which predicts every answer, agrees with the service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from application.authenticate import Principal
from application.logout import LogoutScope
from application.tokens import TokenPair
from domain.errors import InvalidRefreshToken, RefreshTokenReused
from domain.session import SessionPolicy
from tests.unit.conftest import build_world

# A short absolute lifetime (three idle lifetimes) so that random walks reach it.
POLICY = SessionPolicy(
    access_token_ttl=timedelta(seconds=900),
    refresh_idle_ttl=timedelta(seconds=3600),
    max_age=timedelta(seconds=3 * 3600),
    reuse_grace=timedelta(seconds=10),
)
MAX_SESSIONS = 3

session_picks = st.integers(min_value=0, max_value=MAX_SESSIONS - 1)
token_picks = st.integers(min_value=0, max_value=10_000)


@dataclass
class ModelToken:
    plain: str
    session_id: UUID
    expires_at: datetime
    rotated_at: datetime | None = None
    successor: str | None = None


@dataclass
class ModelSession:
    id: UUID
    expires_at: datetime
    newest: str
    access_token: str
    ended_by: str | None = None  # "reuse" or "logout" once the service revoked it


@dataclass(frozen=True)
class Outcome:
    """What presenting a token did: a pair, or an error (reuse or plain refusal)."""

    pair: TokenPair | None = None
    reused: bool = False


class RotationMachine(RuleBasedStateMachine):
    """One user, up to three sessions, and a model of every refresh token handed out."""

    def __init__(self) -> None:
        super().__init__()
        self.world = build_world(session_policy=POLICY)
        self.model_sessions: dict[UUID, ModelSession] = {}
        self.model_tokens: dict[str, ModelToken] = {}

    # -- helpers ---------------------------------------------------------------

    @property
    def now(self) -> datetime:
        return self.world.clock.now()

    def _session(self, which: int) -> ModelSession:
        """The `which`-th session, in login order (wrapping around)."""
        sessions = list(self.model_sessions.values())
        return sessions[which % len(sessions)]

    def _issued(self, pair: TokenPair) -> None:
        """Record a token the service just issued."""
        session = self.model_sessions[pair.session_id]
        self.model_tokens[pair.refresh_token] = ModelToken(
            plain=pair.refresh_token,
            session_id=pair.session_id,
            expires_at=min(self.now + POLICY.refresh_idle_ttl, session.expires_at),
        )
        session.newest = pair.refresh_token
        session.access_token = pair.access_token

    def _predict(self, token: ModelToken) -> str:
        """'rotate', 'hand back', 'reuse' or 'refuse', from the model alone."""
        session = self.model_sessions[token.session_id]
        now = self.now
        if session.ended_by is not None or now >= session.expires_at:
            return "refuse"
        if token.rotated_at is None:
            return "refuse" if now >= token.expires_at else "rotate"
        assert token.successor is not None
        successor = self.model_tokens[token.successor]
        if (
            successor.rotated_at is None
            and now < successor.expires_at
            and now - token.rotated_at <= POLICY.reuse_grace
        ):
            return "refuse" if now >= token.expires_at else "hand back"
        return "reuse"

    def _present(self, plain: str) -> Outcome:
        try:
            return Outcome(pair=self.world.rotated(plain))
        except RefreshTokenReused:
            return Outcome(reused=True)
        except InvalidRefreshToken:
            return Outcome()

    def _present_and_check(self, plain: str) -> None:
        """Present a token to Refresh, check the answer, and update the model."""
        token = self.model_tokens[plain]
        session = self.model_sessions[token.session_id]
        was_spent = token.rotated_at is not None
        successor = self.model_tokens[token.successor] if token.successor else None
        within_grace = (
            token.rotated_at is not None and self.now - token.rotated_at <= POLICY.reuse_grace
        )
        successor_unused = successor is not None and successor.rotated_at is None
        ended_before = session.ended_by is not None
        prediction = self._predict(token)
        event(f"{'spent' if was_spent else 'unspent'} token: {prediction}")

        outcome = self._present(plain)

        # The rules, as stated.
        if outcome.pair is not None:
            assert outcome.pair.session_id == session.id
            assert not ended_before, "a token of a revoked session yielded a pair"
            assert self.now < session.expires_at, "a token worked after the absolute expiry"
            if was_spent:
                assert within_grace, "a spent token yielded a pair after the grace window"
                assert successor_unused, "a spent token yielded a pair after its successor's use"
                assert successor is not None
                assert outcome.pair.refresh_token == successor.plain
        # The model agrees with the service.
        if prediction == "rotate":
            assert outcome.pair is not None
            assert outcome.pair.refresh_token not in self.model_tokens
        elif prediction == "hand back":
            assert outcome.pair is not None
            assert successor is not None
            assert outcome.pair.refresh_token == successor.plain
        else:
            assert outcome.pair is None
            assert outcome.reused == (prediction == "reuse")

        # Keep the model up to date.
        if outcome.reused:
            session.ended_by = "reuse"
        if prediction == "rotate" and outcome.pair is not None:
            token.rotated_at = self.now
            token.successor = outcome.pair.refresh_token
            self._issued(outcome.pair)
        elif outcome.pair is not None:
            session.access_token = outcome.pair.access_token

    # -- rules -------------------------------------------------------------------

    @initialize()
    def a_first_login(self) -> None:
        self.log_in()

    @precondition(lambda self: len(self.model_sessions) < MAX_SESSIONS)
    @rule()
    def log_in(self) -> None:
        pair = self.world.logged_in()
        self.model_sessions[pair.session_id] = ModelSession(
            id=pair.session_id,
            expires_at=self.now + POLICY.max_age,
            newest=pair.refresh_token,
            access_token=pair.access_token,
        )
        self._issued(pair)

    @rule(which=session_picks)
    def refresh_the_newest_token(self, which: int) -> None:
        self._present_and_check(self._session(which).newest)

    @rule(which=token_picks)
    def replay_a_token_seen_before(self, which: int) -> None:
        seen = list(self.model_tokens)
        self._present_and_check(seen[which % len(seen)])

    @rule(which=session_picks, scope=st.sampled_from(LogoutScope))
    def log_out(self, which: int, scope: LogoutScope) -> None:
        session = self._session(which)
        session_id = session.id
        claims = self.world.signer.issued[session.access_token]
        self.world.log_out(Principal(claims.subject, session_id, claims), scope)
        for other in self.model_sessions.values():
            hit = {
                LogoutScope.LOCAL: other.id == session_id,
                LogoutScope.OTHERS: other.id != session_id,
                LogoutScope.GLOBAL: True,
            }[scope]
            if hit and other.ended_by is None:
                other.ended_by = "logout"

    @rule(seconds=st.integers(min_value=0, max_value=15))
    def a_moment_passes(self, seconds: int) -> None:
        self.world.clock.advance(seconds)

    @rule(seconds=st.sampled_from([600, 1800, 3590, 3599, 3600, 3601, 7200]))
    def a_long_time_passes(self, seconds: int) -> None:
        self.world.clock.advance(seconds)

    # -- invariants ----------------------------------------------------------------

    @invariant()
    def the_store_holds_exactly_the_revocations_of_the_model(self) -> None:
        for session in self.model_sessions.values():
            stored = self.world.stored_session(session.id)
            assert (stored.revoked_at is not None) == (session.ended_by is not None)

    @invariant()
    def every_token_of_an_ended_or_expired_session_is_refused(self) -> None:
        for token in self.model_tokens.values():
            session = self.model_sessions[token.session_id]
            if session.ended_by is not None or self.now >= session.expires_at:
                assert self._present(token.plain) == Outcome()


RotationMachine.TestCase.settings = settings(
    max_examples=200, stateful_step_count=50, deadline=None
)
TestRotationStateMachine = RotationMachine.TestCase
