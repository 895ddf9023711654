"""Request and response bodies of the JSON API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from application.tokens import TokenPair
from domain.password_policy import MAX_PASSWORD_LENGTH
from domain.session import MAX_DEVICE_NAME_LENGTH
from domain.text import NO_CONTROL_CHARACTERS

# The length rule is also checked by the domain; this bound only makes an
# oversized password a fast 422 before any hashing.
Password = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)


class SignUpRequest(Body):
    email: EmailStr = Field(max_length=254)
    password: str = Password


class LogInRequest(Body):
    email: str = Field(min_length=1, max_length=254)
    password: str = Password
    # The domain's rule (domain.session.is_device_name), stated in the schema
    # so that the OpenAPI document and its clients know it.
    device_name: str | None = Field(
        default=None, max_length=MAX_DEVICE_NAME_LENGTH, pattern=NO_CONTROL_CHARACTERS
    )


class RefreshRequest(Body):
    # No maximum (the 64 KiB body limit bounds it): a token longer than any we
    # issue is one we do not know, invalid_refresh_token like any other.
    refresh_token: str = Field(min_length=1)


class LogOutRequest(Body):
    scope: Literal["local", "others", "global"] = "local"


class ChangePasswordRequest(Body):
    current_password: str = Password
    new_password: str = Password


class DeleteAccountRequest(Body):
    password: str = Password


class UserResponse(BaseModel):
    id: UUID
    email: str
    created_at: datetime


class TokenPairResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    refresh_token: str
    refresh_token_expires_in: int
    session_id: UUID

    @classmethod
    def of(cls, pair: TokenPair) -> TokenPairResponse:
        return cls(
            access_token=pair.access_token,
            expires_in=pair.expires_in,
            refresh_token=pair.refresh_token,
            refresh_token_expires_in=pair.refresh_token_expires_in,
            session_id=pair.session_id,
        )


class SessionResponse(BaseModel):
    id: UUID
    device_name: str | None
    created_at: datetime
    last_used_at: datetime
    current: bool


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    code: str
