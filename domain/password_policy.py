"""The password rules. Passwords are checked and hashed exactly as received."""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import PasswordPolicyViolation

MAX_PASSWORD_LENGTH = 1024


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int = 12
    max_length: int = MAX_PASSWORD_LENGTH

    def check(self, password: str) -> None:
        """Raise PasswordPolicyViolation naming the broken rule. No trimming, no folding."""
        if len(password) < self.min_length:
            raise PasswordPolicyViolation(
                f"password must be at least {self.min_length} characters long"
            )
        if len(password) > self.max_length:
            raise PasswordPolicyViolation(
                f"password must be at most {self.max_length} characters long"
            )
