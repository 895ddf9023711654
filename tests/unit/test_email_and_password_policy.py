"""The Email value object and the password length policy."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from application.login import LogInCommand
from application.signup import SignUpCommand
from domain.errors import InvalidCredentials, InvalidEmail, PasswordPolicyViolation
from domain.password_policy import MAX_PASSWORD_LENGTH, PasswordPolicy
from domain.user import MAX_EMAIL_LENGTH, Email
from tests.unit.conftest import World

POLICY = PasswordPolicy(min_length=12)

labels = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
addresses = st.builds(
    lambda local, host, tld: f"{local}@{host}.{tld}",
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._+-", min_size=1, max_size=20),
    labels,
    labels,
)


# -- Email ------------------------------------------------------------------


def test_an_email_keeps_the_spelling_the_user_typed() -> None:
    email = Email("Alice.Smith@Example.COM")

    assert email.value == "Alice.Smith@Example.COM"
    assert str(email) == "Alice.Smith@Example.COM"


def test_the_canonical_form_of_an_email_ignores_case() -> None:
    assert Email("Alice.Smith@Example.COM").canonical == "alice.smith@example.com"


def test_surrounding_whitespace_is_not_part_of_an_email() -> None:
    email = Email("  alice@example.com\n")

    assert email.value == "alice@example.com"
    assert email.canonical == Email("alice@example.com").canonical


@given(address=addresses)
@settings(max_examples=100, deadline=None)
def test_any_casing_of_an_address_has_the_same_canonical_form(address: str) -> None:
    # Lower case for ASCII: rows stored before Unicode folding keep their form.
    assert Email(address.upper()).canonical == Email(address).canonical == address.lower()


def test_a_domain_in_unicode_or_in_punycode_is_the_same_address() -> None:
    # Sign-up's email validation turns an IDNA domain into Unicode; login and
    # the CLI take the address as typed: both spellings must find the account.
    assert Email("bob@xn--mnchen-3ya.de").canonical == Email("bob@münchen.de").canonical
    assert Email("bob@XN--MNCHEN-3YA.DE").canonical == Email("Bob@MÜNCHEN.de").canonical


def test_composed_and_decomposed_accents_are_the_same_address() -> None:
    composed, decomposed = "ren\u00e9@caf\u00e9.example", "rene\u0301@cafe\u0301.example"

    assert Email(decomposed).canonical == Email(composed).canonical == composed


def test_an_ascii_label_that_is_not_valid_punycode_stays_as_typed() -> None:
    assert Email("bob@xn--.example.com").canonical == "bob@xn--.example.com"
    assert Email("bob@XN--99999999999.example").canonical == "bob@xn--99999999999.example"
    # Punycode of plain ASCII is no IDNA label: it must not pass for another domain.
    assert Email("bob@xn--gmail-.com").canonical == "bob@xn--gmail-.com"
    assert Email("x@a.xn--com-").canonical == "x@a.xn--com-"


def test_case_is_folded_as_unicode_compares_without_case() -> None:
    # Canonical caseless matching (Unicode 3.13): fold the decomposed form.
    precomposed, decomposed = "\u01f0\u0323@example.com", "J\u0323\u030c@example.com"

    assert Email(precomposed).canonical == Email(decomposed).canonical


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "alice",
        "alice.example.com",
        "@example.com",
        "alice@",
        "alice@localhost",
        "alice smith@example.com",
        "alice@exa mple.com",
        "alice@@example.com",
        "alice@bob@example.com",
        "alice@.com",
        "alice@example.",
        "alice@example..com",
        "a\x00b@example.com",  # which PostgreSQL cannot even compare
    ],
)
def test_a_malformed_email_is_refused(text: str) -> None:
    with pytest.raises(InvalidEmail, match="not a valid address"):
        Email(text)


@pytest.mark.parametrize("text", ["a\x01b@example.com", "alice@example.com\x7f", "a\x9f@b.de"])
def test_a_new_account_takes_no_control_characters_in_its_address(text: str) -> None:
    with pytest.raises(InvalidEmail, match="not a valid address"):
        Email.for_new_account(text)
    # An account made before this rule is still found by its address.
    assert Email(text).value == text


def test_an_email_of_the_maximum_length_is_accepted() -> None:
    domain = "@example.com"
    text = "a" * (MAX_EMAIL_LENGTH - len(domain)) + domain

    assert Email(text).value == text


def test_an_email_longer_than_the_maximum_is_refused() -> None:
    domain = "@example.com"
    text = "a" * (MAX_EMAIL_LENGTH + 1 - len(domain)) + domain

    with pytest.raises(InvalidEmail):
        Email(text)


# -- Password policy --------------------------------------------------------


def test_a_password_shorter_than_the_minimum_is_refused_naming_the_rule() -> None:
    with pytest.raises(PasswordPolicyViolation, match="at least 12 characters"):
        POLICY.check("a" * 11)


def test_a_password_of_exactly_the_minimum_length_is_accepted() -> None:
    POLICY.check("a" * 12)


def test_the_maximum_password_length_is_1024_characters() -> None:
    assert MAX_PASSWORD_LENGTH == 1024
    assert PasswordPolicy().max_length == 1024


def test_a_password_of_exactly_the_maximum_length_is_accepted() -> None:
    POLICY.check("a" * 1024)


def test_a_password_longer_than_the_maximum_is_refused_naming_the_rule() -> None:
    with pytest.raises(PasswordPolicyViolation, match="at most 1024 characters"):
        POLICY.check("a" * 1025)


def test_password_length_counts_characters_not_bytes() -> None:
    POLICY.check("🔑" * 12)
    POLICY.check("é" * 1024)
    with pytest.raises(PasswordPolicyViolation):
        POLICY.check("🔑" * 11)


def test_surrounding_spaces_count_towards_the_password_length() -> None:
    POLICY.check("   nine char")  # 12 as received, though 9 once trimmed
    with pytest.raises(PasswordPolicyViolation):
        POLICY.check(" ten chars ")  # 11 as received, though 9 once trimmed


@given(password=st.text(min_size=0, max_size=1100))
@settings(max_examples=150, deadline=None)
def test_the_policy_accepts_a_password_exactly_when_its_length_is_within_bounds(
    password: str,
) -> None:
    within = 12 <= len(password) <= 1024
    try:
        POLICY.check(password)
    except PasswordPolicyViolation:
        assert not within
    else:
        assert within


def test_a_password_with_surrounding_spaces_keeps_them(world: World) -> None:
    spaced = "  correct horse battery  "
    world.sign_up(SignUpCommand(email="alice@example.com", password=spaced))

    with pytest.raises(InvalidCredentials):
        world.log_in(LogInCommand(email="alice@example.com", password=spaced.strip()))
    pair = world.log_in(LogInCommand(email="alice@example.com", password=spaced))

    assert world.principal(pair).user_id == pair.user_id


def test_a_password_is_not_case_folded(world: World) -> None:
    world.sign_up(SignUpCommand(email="alice@example.com", password="Correct Horse Battery"))

    with pytest.raises(InvalidCredentials):
        world.log_in(LogInCommand(email="alice@example.com", password="correct horse battery"))
