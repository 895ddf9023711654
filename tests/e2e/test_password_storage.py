"""Password storage and checking over HTTP: argon2id upgrades of stored hashes, the
length bounds, and a failed login that costs the same whether the account exists."""

from __future__ import annotations

import re
import statistics
import time
from typing import Any

import argon2
import bcrypt
import pytest
from dependency_injector import providers
from sqlalchemy import create_engine, text

from adapters.hashing import Argon2PasswordHasher
from tests.e2e.conftest import PASSWORD, Api

ARGON2ID = re.compile(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$")


def _stored_hash(api: Api, email: str = "ada@example.com") -> str:
    engine = create_engine(api.container.settings().effective_database_url)
    try:
        with engine.connect() as conn:
            query = text("SELECT password_hash FROM users WHERE email = :email")
            return str(conn.execute(query, {"email": email}).scalar_one())
    finally:
        engine.dispose()


def _plant_hash(api: Api, password_hash: str, email: str = "ada@example.com") -> None:
    engine = create_engine(api.container.settings().effective_database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE users SET password_hash = :hash WHERE email = :email"),
                {"hash": password_hash, "email": email},
            )
    finally:
        engine.dispose()


def _login_status(api: Api, password: str, email: str = "ada@example.com") -> int:
    response = api.client.post("/v1/auth/login", json={"email": email, "password": password})
    return int(response.status_code)


LEGACY_HASHES = {
    "bcrypt": lambda: bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode(),
    "argon2id t=1": lambda: argon2.PasswordHasher(time_cost=1).hash(PASSWORD),
    "argon2id m=8192": lambda: argon2.PasswordHasher(memory_cost=8192).hash(PASSWORD),
    "argon2i": lambda: argon2.PasswordHasher(type=argon2.Type.I).hash(PASSWORD),
}


@pytest.mark.parametrize("scheme", LEGACY_HASHES.keys())
def test_a_weaker_or_older_stored_hash_is_upgraded_to_argon2id_at_the_next_login(
    any_api: Api, scheme: str
) -> None:
    api = any_api
    api.signup()
    legacy = LEGACY_HASHES[scheme]()
    _plant_hash(api, legacy)

    assert _login_status(api, PASSWORD + "!") == 401
    assert _stored_hash(api) == legacy  # a failed login changes nothing
    api.login()

    upgraded = ARGON2ID.match(_stored_hash(api))
    assert upgraded, _stored_hash(api)
    memory, time_cost, parallelism = map(int, upgraded.groups())
    assert memory >= 19456
    assert time_cost >= 2
    assert parallelism >= 1
    api.login()
    assert _login_status(api, PASSWORD + "!") == 401


def test_a_new_account_is_stored_as_argon2id_at_the_owasp_minimum_or_above(api: Api) -> None:
    api.signup()
    stored = ARGON2ID.match(_stored_hash(api))
    assert stored
    memory, time_cost, parallelism = map(int, stored.groups())
    assert memory >= 19456
    assert time_cost >= 2
    assert parallelism >= 1


@pytest.mark.parametrize(
    "password",
    [
        "Grüße aus Köln, 東京 と Москва — ✓ zwölf Zeichen und mehr, bis 64!!"[:64],
        ("Ωmega-λambda · " + "ñandú 🐧 glacier-mango-tuesday-violin " * 30)[:1024],
    ],
    ids=["64 characters", "1024 characters"],
)
def test_passwords_of_64_and_1024_characters_in_any_script_work(api: Api, password: str) -> None:
    api.signup(password=password)
    api.login(password=password)
    assert _login_status(api, password[:-1]) == 401


class CountingHasher:
    """The real hasher, counting how often it hashes or verifies."""

    def __init__(self) -> None:
        self._real = Argon2PasswordHasher()
        self.calls = 0
        self.dummy_verifies = 0
        self.real_verifies = 0

    def hash(self, password: str) -> str:
        self.calls += 1
        return self._real.hash(password)

    def verify(self, password: str, password_hash: str) -> bool:
        self.calls += 1
        self.real_verifies += 1
        return self._real.verify(password, password_hash)

    def needs_update(self, password_hash: str) -> bool:
        return self._real.needs_update(password_hash)

    def verify_dummy(self, password: str) -> None:
        self.calls += 1
        self.dummy_verifies += 1
        self._real.verify_dummy(password)


@pytest.fixture
def counting_hasher(api: Api) -> CountingHasher:
    hasher = CountingHasher()
    api.container.hasher.override(providers.Object(hasher))
    return hasher


def test_a_password_over_the_maximum_is_refused_with_422_before_any_hashing(
    api: Api, counting_hasher: CountingHasher
) -> None:
    api.signup()
    pair = api.login()
    counting_hasher.calls = 0
    too_long = "x" * 1025
    bearer = {"Authorization": f"Bearer {pair['access_token']}"}
    attempts: list[tuple[str, str, dict[str, Any], dict[str, str]]] = [
        ("POST", "/v1/auth/signup", {"email": "bob@example.com", "password": too_long}, {}),
        ("POST", "/v1/auth/login", {"email": "ada@example.com", "password": too_long}, {}),
        (
            "POST",
            "/v1/users/me/password",
            {"current_password": too_long, "new_password": PASSWORD},
            bearer,
        ),
        ("DELETE", "/v1/users/me", {"password": too_long}, bearer),
    ]
    for method, path, body, headers in attempts:
        response = api.client.request(method, path, json=body, headers=headers)
        assert response.status_code == 422, path
        assert response.json()["code"] == "validation_error"
        assert "1024" in response.json()["detail"]
    assert counting_hasher.calls == 0


def test_an_unknown_email_costs_one_password_verification_like_a_wrong_password(
    api: Api, counting_hasher: CountingHasher
) -> None:
    """The mechanism behind SECURITY 18: both failures run exactly one argon2 verify
    with the same parameters (the dummy hash is made by the same hasher)."""
    api.signup()
    counting_hasher.calls = 0

    assert _login_status(api, "a wrong password, long enough") == 401
    assert (counting_hasher.calls, counting_hasher.real_verifies) == (1, 1)
    assert _login_status(api, PASSWORD, email="nobody@example.com") == 401
    assert (counting_hasher.calls, counting_hasher.dummy_verifies) == (2, 1)
    dummy = ARGON2ID.match(counting_hasher._real._dummy_hash)
    real = ARGON2ID.match(_stored_hash(api))
    assert dummy
    assert real
    assert dummy.groups() == real.groups()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # The timing test fails hundreds of logins from one client on purpose.
    return {"login_max_failures": 100_000}


TRIES = 200
MAX_MEDIAN_DIFFERENCE = 0.005  # seconds


@pytest.mark.timing
def test_unknown_email_and_wrong_password_take_indistinguishable_time(api: Api) -> None:
    api.signup()
    wrong_password = {"email": "ada@example.com", "password": "a wrong password, long enough"}
    unknown_email = {"email": "nobody@example.com", "password": "a wrong password, long enough"}

    def seconds(body: dict[str, str]) -> float:
        start = time.perf_counter()
        response = api.client.post("/v1/auth/login", json=body)
        elapsed = time.perf_counter() - start
        assert response.status_code == 401
        return elapsed

    for _ in range(10):  # warm up caches, pools and the JIT-less interpreter alike
        seconds(wrong_password)
        seconds(unknown_email)
    known: list[float] = []
    unknown: list[float] = []
    for n in range(TRIES):
        # Interleaved, alternating which goes first, so drift in machine load hits both.
        pair = (wrong_password, unknown_email) if n % 2 else (unknown_email, wrong_password)
        for body in pair:
            (known if body is wrong_password else unknown).append(seconds(body))

    difference = abs(statistics.median(known) - statistics.median(unknown))
    assert difference < MAX_MEDIAN_DIFFERENCE, (
        f"median {statistics.median(known) * 1000:.2f} ms (wrong password) vs "
        f"{statistics.median(unknown) * 1000:.2f} ms (unknown email)"
    )
