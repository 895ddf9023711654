"""Password guessability (ASVS 6.2.4) with zxcvbn."""

from __future__ import annotations

import time

import pytest

from adapters.strength import ZxcvbnStrengthChecker

EMAIL = "alice.liddell@wonderland.example"


@pytest.fixture(scope="module")
def checker() -> ZxcvbnStrengthChecker:
    return ZxcvbnStrengthChecker()


@pytest.mark.parametrize(
    "password", ["password123", "qwertyuiop12", "iloveyou2024", "aaaaaaaaaaaaaaaa", "123456789012"]
)
def test_a_common_password_is_refused_with_a_reason(
    checker: ZxcvbnStrengthChecker, password: str
) -> None:
    reason = checker.weakness(password, [])

    assert reason is not None
    assert reason.startswith("password is too common or easy to guess")


def test_the_reason_carries_the_zxcvbn_warning(checker: ZxcvbnStrengthChecker) -> None:
    assert checker.weakness("password123", []) == (
        "password is too common or easy to guess: This is a very common password."
    )


@pytest.mark.parametrize(
    "password", ["correct horse battery staple", "vT7#qLm2!xR9wZp4", "glacier-mango-tuesday-violin"]
)
def test_a_strong_password_has_no_weakness(checker: ZxcvbnStrengthChecker, password: str) -> None:
    assert checker.weakness(password, [EMAIL]) is None


def test_a_password_made_of_parts_of_the_users_email_is_refused(
    checker: ZxcvbnStrengthChecker,
) -> None:
    assert checker.weakness("liddellwonderland", []) is None  # fine for anyone else ...
    assert checker.weakness("liddellwonderland", [EMAIL]) is not None  # ... but not for Alice
    assert checker.weakness(EMAIL, [EMAIL]) is not None


def test_a_1024_character_password_is_scored_quickly_without_error(
    checker: ZxcvbnStrengthChecker,
) -> None:
    password = "glacier-mango-tuesday-violin-" * 36  # 1044 characters

    start = time.perf_counter()
    reason = checker.weakness(password[:1024], [EMAIL])

    assert reason is None
    assert time.perf_counter() - start < 1.0


def test_a_higher_minimum_score_refuses_more(checker: ZxcvbnStrengthChecker) -> None:
    password = "liddell-cheshire"
    assert checker.weakness(password, []) is None
    assert ZxcvbnStrengthChecker(min_score=4).weakness(password, []) is not None


@pytest.mark.parametrize("score", [-1, 5])
def test_a_minimum_score_outside_zero_to_four_is_refused(score: int) -> None:
    with pytest.raises(ValueError, match="between 0 and 4"):
        ZxcvbnStrengthChecker(min_score=score)
