"""Text that people read (an address, a device's name) holds no characters that
control how it is shown.

One definition for every such rule: Unicode's control characters (category Cc:
C0, DEL and C1, a set Unicode promises never to change), the line and paragraph
separators, and the bidirectional embeddings, overrides and isolates that can
make text read otherwise than it is stored ("Trojan Source"). They can rewrite
what a terminal or a log viewer shows, and PostgreSQL cannot store a NUL.
Marks that only join or shape (a zero-width joiner in an emoji) are kept.
"""

from __future__ import annotations

import re

# In regular-expression syntax, so that a JSON schema can state the same rule.
CONTROL_CHARACTERS = r"\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
NO_CONTROL_CHARACTERS = rf"^[^{CONTROL_CHARACTERS}]*$"
_CONTROL = re.compile(f"[{CONTROL_CHARACTERS}]+")


def has_control_character(text: str) -> bool:
    return _CONTROL.search(text) is not None


def without_control_characters(text: str) -> str:
    """Each run of control characters becomes one space (a tab between words stays a gap)."""
    return _CONTROL.sub(" ", text).strip()
