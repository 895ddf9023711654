"""One rule for text people read: no characters that control how it is shown."""

from __future__ import annotations

import random
import re
import sys
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.session import (
    MAX_DEVICE_NAME_LENGTH,
    device_name_from_agent,
    is_device_name,
)
from domain.text import NO_CONTROL_CHARACTERS, has_control_character, without_control_characters
from entrypoints.http.schemas import LogInRequest

# Trojan Source's bidirectional controls, and the line and paragraph separators.
DISPLAY_CONTROLS = {0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}


def refused(point: int) -> bool:
    return unicodedata.category(chr(point)) == "Cc" or point in DISPLAY_CONTROLS


def test_the_refused_characters_are_unicodes_controls_and_the_display_controls() -> None:
    pattern = re.compile(NO_CONTROL_CHARACTERS)
    for point in range(sys.maxunicode + 1):
        ch = chr(point)
        assert has_control_character(ch) is refused(point), hex(point)
        # The schema's pattern says the same, so the API refuses what the domain does.
        assert (pattern.fullmatch(f"a{ch}b") is None) is refused(point), hex(point)


def test_the_schema_refuses_them_with_pydantics_own_regular_expressions() -> None:
    # pydantic does not use Python's `re`: the pattern must mean the same there.
    others = random.Random(7).sample(range(sys.maxunicode + 1), 2000)
    for point in [p for p in range(0x2100) if refused(p)] + others:
        if 0xD800 <= point <= 0xDFFF:
            continue  # a lone surrogate is no JSON text
        name = f"phone {chr(point)} 2"
        try:
            LogInRequest(email="a@example.com", password="p", device_name=name)
        except ValidationError:
            assert refused(point), hex(point)
        else:
            assert not refused(point), hex(point)


def test_a_joiner_inside_an_emoji_is_kept() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert is_device_name(f"{family} tablet")


@given(st.text())
def test_text_without_its_control_characters_has_none_left(text: str) -> None:
    cleaned = without_control_characters(text)

    assert not has_control_character(cleaned)
    assert cleaned == cleaned.strip()


def test_a_run_of_control_characters_becomes_one_space() -> None:
    assert without_control_characters("Firefox\t\x85\x1b[2J on Linux\x00") == "Firefox [2J on Linux"
    assert without_control_characters("evil\u202egnp.exe\u2028x") == "evil gnp.exe x"


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
