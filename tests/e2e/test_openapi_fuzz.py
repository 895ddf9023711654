"""Schemathesis over /openapi.json, with every check and a valid bearer token on the
protected routes: no 5xx, no response outside the schema, no ignored authentication
(SECURITY 29)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from starlette.types import ASGIApp, Receive, Scope, Send

from application.login import LogInCommand
from entrypoints.container import Container
from entrypoints.http.app import create_app
from tests.e2e.conftest import PASSWORD, Api

Case = schemathesis.Case[Any]

EMAIL = "fuzz@example.com"
# Enough to reach each operation's interesting inputs while the whole run stays
# around a minute on a small machine.
MAX_EXAMPLES = 20


class AppOfTheRunningTest:
    """The ASGI app that schemathesis calls: the `api` fixture's app of each test.

    The schema is loaded when the module is imported, before any fixture has
    made an app; schemathesis's own fixture-based loading does not work with
    this pytest, so the schema is given this stand-in instead.
    """

    target: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.target is not None, "the api fixture has not started an app"
        await self.target(scope, receive, send)


APP = AppOfTheRunningTest()


def _openapi_document() -> dict[str, Any]:
    """What /openapi.json serves; building the app touches no database."""
    container = Container()
    try:
        document: dict[str, Any] = create_app(container).openapi()
        return document
    finally:
        container.unwire()


# Schemathesis builds some cases while it collects the tests, before any app
# (and so any account) exists: those carry this, swapped for a real token when
# the case is sent.
NOT_YET_LOGGED_IN = "Bearer not-yet-logged-in"


def fresh_bearer() -> str:
    """A new session per case: a case that logs out or revokes sessions must not
    leave the next case without valid credentials."""
    assert APP.target is not None
    log_in = APP.target.state.container.log_in()  # type: ignore[attr-defined]
    return f"Bearer {log_in(LogInCommand(email=EMAIL, password=PASSWORD)).access_token}"


class FreshAccessToken:
    def get(self, case: Case, context: schemathesis.AuthContext) -> str:
        return fresh_bearer() if APP.target is not None else NOT_YET_LOGGED_IN

    def set(self, case: Case, data: str, context: schemathesis.AuthContext) -> None:
        case.headers["Authorization"] = data


# Two answers of the contract that the checks do not expect by default: a
# password the schema admits may still break the policy (too short for the
# configured minimum, or guessable), which is a 422 naming the rule; and a
# body over 64 KiB is refused with a 413 before anything validates it.
CONTRACT_ANSWERS = {
    "checks": {
        "negative_data_rejection": {
            "expected-statuses": [
                *("400", "401", "403", "404", "405", "406", "409", "413", "415", "422"),
                *("428", "429", "5xx"),
            ]
        }
    },
    "operations": [
        {
            "include-path": ["/v1/auth/signup", "/v1/users/me/password"],
            "checks": {
                "positive_data_acceptance": {
                    "expected-statuses": [
                        *("2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx")
                    ]
                }
            },
        }
    ],
}

schema = schemathesis.openapi.from_dict(
    _openapi_document(), config=schemathesis.Config.from_dict(CONTRACT_ANSWERS)
)
schema.app = APP
schema.auth(refresh_interval=None)(FreshAccessToken)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # The fuzzer is one client hammering every route: throttling would answer
    # most of its requests with 429 and hide the paths behind it.
    return {"login_max_failures": 10**6, "signup_max_per_ip": 10**6, "refresh_max_per_ip": 10**6}


@pytest.fixture(autouse=True)
def running_app(api: Api) -> Iterator[None]:
    api.signup(EMAIL)
    APP.target = api.client.app
    yield
    APP.target = None


# What a stack trace or a database error would bring into a body (SECURITY 30).
INSIDES = ("Traceback", 'File "', "SELECT ", "INSERT INTO", "sqlalchemy", "psycopg", "Error:")


def no_stack_trace_or_sql(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: Case
) -> None:
    for marker in INSIDES:
        assert marker not in response.text, f"{marker!r} in the body of {case.method} {case.path}"


@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
@schema.parametrize()
def test_the_api_conforms_to_its_openapi_schema_under_fuzzing(case: Case) -> None:
    if case.headers and case.headers.get("Authorization") == NOT_YET_LOGGED_IN:
        case.headers["Authorization"] = fresh_bearer()
    case.call_and_validate(additional_checks=[no_stack_trace_or_sql])
