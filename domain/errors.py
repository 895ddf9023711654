"""Domain errors. Each is mapped once to an HTTP status in entrypoints/http/errors.py."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the domain and the use cases raise on purpose."""


class InvalidInput(DomainError):
    """Input that breaks a rule; the message says which rule (safe to show)."""


class InvalidEmail(InvalidInput):
    pass


class PasswordPolicyViolation(InvalidInput):
    pass


class EmailTaken(DomainError):
    pass


class InvalidCredentials(DomainError):
    """Unknown email, wrong password or disabled account: deliberately one error."""


class InvalidToken(DomainError):
    """A missing, malformed, expired, revoked or wrong-kind access token."""


class InvalidRefreshToken(DomainError):
    """An unknown, expired or revoked refresh token."""


class RefreshTokenReused(InvalidRefreshToken):
    """A spent refresh token presented outside the grace rule: its session is revoked."""

    def __init__(self, session_id: object, user_id: object) -> None:
        super().__init__("refresh token reused")
        self.session_id = session_id
        self.user_id = user_id


class InvalidRequest(InvalidInput):
    """An OAuth request that lacks, repeats or malforms a parameter (RFC 6749 invalid_request)."""


class UnsupportedGrantType(InvalidInput):
    pass


class InvalidClient(DomainError):
    """Client authentication failed: an unknown client, a wrong secret, or a
    registered (confidential) client that named itself without its secret."""


class ClientNotFound(DomainError):
    pass


class SigningKeyConflict(DomainError):
    """Another instance changed the signing keys at the same moment; nothing was changed."""


class SessionNotFound(DomainError):
    pass


class UserNotFound(DomainError):
    pass


class TooManyRequests(DomainError):
    """`reason` says which limit was full, for the audit: "requests" (a budget
    of requests), "failures" (failed logins in the window) or "in_flight"
    (logins still being decided, with the failures, fill an address's limit)."""

    def __init__(self, retry_after: int, reason: str = "requests") -> None:
        super().__init__("too many requests")
        self.retry_after = retry_after
        self.reason = reason


class ServiceUnavailable(DomainError):
    """A dependency (the database) cannot be reached; nothing was issued."""
