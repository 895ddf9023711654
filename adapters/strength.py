"""Password guessability with zxcvbn (ASVS 6.2.4: refuse common and predictable passwords)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from zxcvbn import zxcvbn

# zxcvbn's matching grows much faster than linearly with the length, and it
# refuses more than 72 characters by default. The first 100 characters are
# plenty to tell a guessable password; the whole password is still hashed.
SCORED_PREFIX = 100
_WORD = re.compile(r"[^\W_]{3,}")


class ZxcvbnStrengthChecker:
    def __init__(self, min_score: int = 2) -> None:
        if not 0 <= min_score <= 4:
            raise ValueError("min_score must be between 0 and 4")
        self._min_score = min_score

    def weakness(self, password: str, user_inputs: Sequence[str]) -> str | None:
        result = zxcvbn(
            password[:SCORED_PREFIX],
            user_inputs=_expand(user_inputs),
            max_length=SCORED_PREFIX,
        )
        if int(result["score"]) >= self._min_score:
            return None
        warning = str(result["feedback"].get("warning") or "").strip()
        reason = "password is too common or easy to guess"
        return f"{reason}: {warning}" if warning else reason


def _expand(user_inputs: Sequence[str]) -> list[str]:
    """zxcvbn matches user inputs as whole words; add their parts too.

    So that `alice.smith@example.com` also catches `Smith2024!` or `example`.
    """
    words: list[str] = []
    for value in user_inputs:
        words.append(value.lower())
        words.extend(part.lower() for part in _WORD.findall(value))
    return words
