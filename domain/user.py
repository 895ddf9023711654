"""Users and the email value object."""

from __future__ import annotations

import codecs
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from domain.errors import InvalidEmail
from domain.text import has_control_character

MAX_EMAIL_LENGTH = 254


@dataclass(frozen=True)
class Email:
    """An email address as the user typed it; `canonical` is what uniqueness compares."""

    value: str

    def __post_init__(self) -> None:
        value = self.value.strip()
        local, at, domain = value.rpartition("@")
        if (
            not at
            or not local
            or "@" in local
            or "." not in domain
            or "" in domain.split(".")
            or len(value) > MAX_EMAIL_LENGTH
        ):
            raise InvalidEmail("email is not a valid address")
        # Nor a NUL, which PostgreSQL cannot even compare: looked up, it is no account.
        if any(ch.isspace() or ch == "\x00" for ch in value):
            raise InvalidEmail("email is not a valid address")
        object.__setattr__(self, "value", value)

    @classmethod
    def for_new_account(cls, text: str) -> Email:
        """Stricter than for a lookup: no control characters at all. Addresses
        stored before this rule still load and log in; only new ones meet it."""
        email = cls(text)
        if has_control_character(email.value):
            raise InvalidEmail("email is not a valid address")
        return email

    @property
    def canonical(self) -> str:
        """Case-insensitive over the whole address, as users expect, and one
        address however its characters were typed: Unicode's canonical caseless
        match (composed or decomposed accents alike), and a domain in Unicode or
        in its ASCII form (punycode). An ASCII address is simply lower-cased."""
        local, _, domain = self.value.rpartition("@")
        labels = (_unicode_label(label) for label in _folded(domain).split("."))
        return f"{_folded(local)}@{'.'.join(_folded(label) for label in labels)}"

    def __str__(self) -> str:
        return self.value


def _folded(text: str) -> str:
    # Canonical caseless matching (Unicode 3.13), kept composed.
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).casefold())


def _unicode_label(label: str) -> str:
    """A domain label's Unicode form: "xn--mnchen-3ya" is "münchen" (RFC 3492).

    Only a true IDNA label is read so: one whose Unicode form is not plain
    ASCII and encodes back to it ("xn--gmail-" would otherwise pass for "gmail").
    """
    if not label.startswith("xn--"):
        return label
    try:
        decoded = str(codecs.decode(label[4:].encode("ascii"), "punycode"))
        encoded = codecs.encode(decoded, "punycode").decode("ascii")
    except (UnicodeError, ValueError):
        return label  # not punycode after all: compared as typed
    if decoded.isascii() or encoded != label[4:]:
        return label
    return decoded


@dataclass
class User:
    id: UUID
    email: Email
    password_hash: str
    created_at: datetime
    disabled_at: datetime | None = None

    @property
    def is_active(self) -> bool:
        return self.disabled_at is None

    def profile(self) -> Profile:
        return Profile(id=self.id, email=self.email, created_at=self.created_at)


@dataclass(frozen=True)
class Profile:
    """What an account shows its owner. No password hash: a cache of profiles
    (kept for every account in use) then holds none."""

    id: UUID
    email: Email
    created_at: datetime
