"""Form bodies and answers of the OAuth 2 endpoints (form-encoded in, JSON out).

Conditional parameters (`username` for the password grant, ...) are optional
here and checked by the use case, which knows the grant.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from application.oauth import TokenInfo, TokenKind
from domain.client import MAX_CLIENT_ID_LENGTH
from domain.password_policy import MAX_PASSWORD_LENGTH


class Form(BaseModel):
    # Unknown parameters are ignored (RFC 6749 3.1).
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)

    # RFC 6749 A.1: visible ASCII and spaces (also checked by the domain); empty
    # is absent (3.1).
    client_id: str | None = Field(
        default=None, max_length=MAX_CLIENT_ID_LENGTH, pattern=r"^[\x20-\x7E]*$"
    )


class TokenForm(Form):
    # Documented as an enum, validated as any string: another grant type must be
    # answered unsupported_grant_type (RFC 6749 5.2), not invalid_request.
    grant_type: str = Field(
        min_length=1, max_length=64, json_schema_extra={"enum": ["password", "refresh_token"]}
    )
    username: str | None = Field(default=None, max_length=254, description="the email")
    password: str | None = Field(default=None, max_length=MAX_PASSWORD_LENGTH)
    # No maximum: a token longer than any we issue is invalid_grant like any other.
    refresh_token: str | None = None
    # Accepted and ignored: Latchkey has no scopes, every token is for the whole API.
    scope: str | None = Field(default=None, max_length=1024)


class PresentedTokenForm(Form):
    """The body of revocation (RFC 7009) and introspection (RFC 7662)."""

    # No maximum: an over-long token is one that does not exist, answered 200
    # (RFC 7009 2.2) or inactive (RFC 7662 2.2), not refused as a bad request.
    # The 64 KiB body limit bounds it.
    token: str = Field(min_length=1)
    token_type_hint: str | None = Field(
        default=None, max_length=64, examples=["access_token", "refresh_token"]
    )


class OAuthError(BaseModel):
    error: str
    error_description: str


class IntrospectionResponse(BaseModel):
    """RFC 7662 2.2. Only `active` when the token is not live."""

    active: bool
    sub: UUID | None = None
    sid: UUID | None = None
    exp: int | None = None
    iat: int | None = None
    iss: str | None = None
    aud: str | list[str] | None = None
    token_type: TokenKind | None = None
    client_id: str | None = None

    @classmethod
    def of(cls, info: TokenInfo | None) -> IntrospectionResponse:
        if info is None:
            return cls(active=False)
        return cls(
            active=True,
            sub=info.subject,
            sid=info.session_id,
            exp=_seconds(info.expires_at),
            iat=_seconds(info.issued_at),
            iss=info.issuer,
            # As in the access token: a string for one audience, a list for several.
            aud=info.audience[0] if len(info.audience) == 1 else list(info.audience),
            token_type=info.token_type,
            client_id=info.client_id,
        )


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())
