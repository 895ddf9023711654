"""Password hashing: argon2id at the OWASP minimum, exact passwords, legacy upgrades."""

from __future__ import annotations

import re
import statistics
import threading
import time
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import argon2
import bcrypt
import pytest

from adapters.hashing import Argon2PasswordHasher

PASSWORD = "correct horse battery staple"
ARGON2_PARAMS = re.compile(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$")


@pytest.fixture(scope="module")
def hasher() -> Argon2PasswordHasher:
    return Argon2PasswordHasher()


def test_a_hash_is_argon2id_with_at_least_the_owasp_parameters(
    hasher: Argon2PasswordHasher,
) -> None:
    password_hash = hasher.hash(PASSWORD)

    match = ARGON2_PARAMS.match(password_hash)
    assert match, password_hash
    memory, time_cost, parallelism = map(int, match.groups())
    assert memory >= 19456
    assert time_cost >= 2
    assert parallelism == 1
    assert not hasher.needs_update(password_hash)


def test_the_right_password_verifies_and_a_wrong_one_does_not(
    hasher: Argon2PasswordHasher,
) -> None:
    password_hash = hasher.hash(PASSWORD)

    assert hasher.verify(PASSWORD, password_hash)
    assert not hasher.verify("correct horse battery stapler", password_hash)


@pytest.mark.parametrize(
    "almost",
    [PASSWORD + " ", " " + PASSWORD, PASSWORD.upper(), PASSWORD.capitalize(), PASSWORD[:-1]],
    ids=["trailing space", "leading space", "upper case", "capitalised", "one char short"],
)
def test_a_password_that_differs_in_whitespace_or_case_fails(
    hasher: Argon2PasswordHasher, almost: str
) -> None:
    assert not hasher.verify(almost, hasher.hash(PASSWORD))


@pytest.mark.parametrize(
    "password",
    [
        "x" * 1024,
        "🔑" * 1024,  # 4096 bytes of UTF-8
        "pässwörd-ñandú-密码-пароль-كلمة",
        "tab\tnew\nline and\x00nul",
    ],
    ids=["1024 ASCII", "1024 emoji", "mixed scripts", "control characters"],
)
def test_long_and_unicode_passwords_round_trip(hasher: Argon2PasswordHasher, password: str) -> None:
    assert hasher.verify(password, hasher.hash(password))


def test_a_long_password_is_not_truncated(hasher: Argon2PasswordHasher) -> None:
    password = "a" * 100
    password_hash = hasher.hash(password)

    assert not hasher.verify("a" * 99 + "b", password_hash)  # differs after bcrypt's 72 bytes
    assert not hasher.verify("a" * 1024, password_hash)


def test_unicode_is_not_normalised(hasher: Argon2PasswordHasher) -> None:
    composed = unicodedata.normalize("NFC", "café-crème-brûlée")
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed

    assert not hasher.verify(decomposed, hasher.hash(composed))


def test_a_bcrypt_hash_verifies_and_needs_an_update(hasher: Argon2PasswordHasher) -> None:
    legacy = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()

    assert hasher.verify(PASSWORD, legacy)
    assert not hasher.verify("wrong", legacy)
    assert hasher.needs_update(legacy)


@pytest.mark.parametrize(
    "params",
    [
        {"time_cost": 1, "memory_cost": 19456, "parallelism": 1},
        {"time_cost": 2, "memory_cost": 8192, "parallelism": 1},
        {"time_cost": 2, "memory_cost": 19456, "parallelism": 1, "type": argon2.Type.I},
        {"time_cost": 2, "memory_cost": 19456, "parallelism": 1, "type": argon2.Type.D},
    ],
    ids=["t=1", "m=8192", "argon2i", "argon2d"],
)
def test_a_weaker_argon2_hash_verifies_and_needs_an_update(
    hasher: Argon2PasswordHasher, params: dict[str, Any]
) -> None:
    weak = argon2.PasswordHasher(**params).hash(PASSWORD)

    assert hasher.verify(PASSWORD, weak)
    assert hasher.needs_update(weak)


def test_an_argon2id_hash_with_more_rounds_needs_no_update(hasher: Argon2PasswordHasher) -> None:
    stronger = argon2.PasswordHasher(time_cost=3, memory_cost=19456, parallelism=1).hash(PASSWORD)
    assert not hasher.needs_update(stronger)


@pytest.mark.parametrize(
    "malformed",
    [
        "",
        "garbage",
        "$argon2id$v=19$m=19456,t=2,p=1$bad",
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$",
        "$2b$12$short",
        "$1$md5crypt$notsupported",
        "$argon2id$v=19$m=1,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaA",
    ],
)
def test_a_malformed_hash_verifies_false_and_never_raises(
    hasher: Argon2PasswordHasher, malformed: str
) -> None:
    assert hasher.verify(PASSWORD, malformed) is False
    assert hasher.needs_update(malformed)


def test_a_truncated_hash_verifies_false(hasher: Argon2PasswordHasher) -> None:
    assert hasher.verify(PASSWORD, hasher.hash(PASSWORD)[:-8]) is False


@pytest.mark.parametrize(
    "params",
    [{"memory_cost": 19455}, {"time_cost": 1}, {"parallelism": 0}],
    ids=["m below 19456", "t below 2", "p below 1"],
)
def test_parameters_below_the_owasp_minimum_are_refused(params: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="OWASP"):
        Argon2PasswordHasher(**params)


def test_stronger_parameters_are_used_when_configured() -> None:
    hasher = Argon2PasswordHasher(memory_cost=32768, time_cost=3)
    assert hasher.hash(PASSWORD).startswith("$argon2id$v=19$m=32768,t=3,p=1$")


def _seconds(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def test_the_dummy_verify_costs_what_a_real_verify_costs(hasher: Argon2PasswordHasher) -> None:
    real_hash = hasher.hash(PASSWORD)
    real, dummy = [], []
    for _ in range(9):  # interleaved, so load on the machine hits both alike
        real.append(_seconds(lambda: hasher.verify("wrong password", real_hash)))
        dummy.append(_seconds(lambda: hasher.verify_dummy("wrong password")))

    ratio = statistics.median(dummy) / statistics.median(real)

    assert 0.4 < ratio < 2.5


class _CountingContext:
    """Wraps the passlib context to observe how many verifies run at once."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self.running = 0
        self.peak = 0

    def verify(self, password: str, password_hash: str) -> bool:
        with self._lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            return bool(self._inner.verify(password, password_hash))
        finally:
            with self._lock:
                self.running -= 1


def test_concurrent_verifies_are_bounded() -> None:
    hasher = Argon2PasswordHasher(max_concurrency=2)
    password_hash = hasher.hash(PASSWORD)
    counting = _CountingContext(hasher._context)
    hasher._context = counting

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(lambda _: hasher.verify(PASSWORD, password_hash), range(24)))

    assert all(results)
    assert counting.peak <= 2


def test_an_argon2id_hash_stronger_in_every_parameter_is_never_downgraded(
    hasher: Argon2PasswordHasher,
) -> None:
    stronger = argon2.PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4).hash(PASSWORD)
    assert hasher.verify(PASSWORD, stronger)
    assert not hasher.needs_update(stronger)
