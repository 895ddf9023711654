"""One rule for text people read: no control characters, as Unicode defines them."""

from __future__ import annotations

import re
import sys
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.session import (
    MAX_DEVICE_NAME_LENGTH,
    device_name_from_agent,
    is_device_name,
)
from domain.text import NO_CONTROL_CHARACTERS, has_control_character, without_control_characters


def test_the_control_characters_are_exactly_unicodes_category_cc() -> None:
    pattern = re.compile(NO_CONTROL_CHARACTERS)
    for point in range(sys.maxunicode + 1):
        ch = chr(point)
        is_control = unicodedata.category(ch) == "Cc"
        assert has_control_character(ch) is is_control, hex(point)
        # The schema's pattern says the same, so the API refuses what the domain does.
        assert (pattern.fullmatch(f"a{ch}b") is None) is is_control, hex(point)


@given(st.text())
def test_text_without_its_control_characters_has_none_left(text: str) -> None:
    cleaned = without_control_characters(text)

    assert not has_control_character(cleaned)
    assert cleaned == cleaned.strip()


def test_a_run_of_control_characters_becomes_one_space() -> None:
    assert without_control_characters("Firefox\t\x85\x1b[2J on Linux\x00") == "Firefox [2J on Linux"


@pytest.mark.parametrize(
    ("agent", "name"),
    [
        (None, None),
        ("", None),
        ("\t\x9b\x00", None),
        ("curl/8.5.0", "curl/8.5.0"),
        ("Mozilla/5.0\t(X11)\x85", "Mozilla/5.0 (X11)"),
        ("x" * 300, "x" * MAX_DEVICE_NAME_LENGTH),
        ("x" * (MAX_DEVICE_NAME_LENGTH - 1) + " y", "x" * (MAX_DEVICE_NAME_LENGTH - 1)),
    ],
)
def test_a_user_agent_becomes_a_device_name(agent: str | None, name: str | None) -> None:
    assert device_name_from_agent(agent) == name


@given(st.one_of(st.none(), st.text(max_size=400)))
def test_a_user_agent_always_makes_a_valid_device_name(agent: str | None) -> None:
    name = device_name_from_agent(agent)

    assert name is None or (name and is_device_name(name))
