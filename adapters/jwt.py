"""RFC 9068 access tokens: signed with our active key, verified against our key set only.

Verification follows RFC 8725: the token's header only *names* a key of ours
(`kid`); it can never supply one (`jwk`, `jku`, `x5u`, `x5c` are refused), and
the algorithm is the one that key was made for, never the one the token asks
for (so `none` and HS256-with-our-public-key cannot work).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from joserfc import jwt
from joserfc.errors import BadSignatureError, UnsupportedAlgorithmError
from joserfc.jwa import JWSAlgModel
from joserfc.jws import JWSRegistry

from adapters.keys import SUPPORTED_ALGORITHMS, KeySetProvider
from application.ports import AccessClaims
from domain.errors import InvalidToken, ServiceUnavailable

MAX_TOKEN_LENGTH = 8192
MAX_KID_LENGTH = 128
MAX_LEEWAY = timedelta(seconds=60)
TOKEN_TYPE = "at+jwt"
_ACCEPTED_TYPES = frozenset({"at+jwt", "application/at+jwt"})
# Exactly what we put in a header. Anything else (jwk, jku, x5u, x5c, crit,
# b64, ...) would ask the verifier to trust or interpret something the token
# brings along, and no token of ours ever carries it.
_ALLOWED_HEADER = frozenset({"alg", "typ", "kid"})
_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")


class _PinnedRegistry(JWSRegistry):
    """A registry that knows exactly one algorithm: the one our key was made for.

    joserfc warns on every use of "EdDSA" (RFC 9864 prefers "Ed25519"), but
    "EdDSA" is what our contract names and what verifiers support today.
    """

    def __init__(self, alg: str) -> None:
        super().__init__(algorithms=[alg], strict_check_header=True)
        self._alg = alg

    def get_alg(self, name: str) -> JWSAlgModel:
        if name != self._alg:
            raise UnsupportedAlgorithmError(f"Algorithm of '{name}' is not allowed")
        return self.algorithms[name]


_REGISTRIES = {alg: _PinnedRegistry(alg) for alg in SUPPORTED_ALGORITHMS}


class _StrictJSONDecoder(json.JSONDecoder):
    """No duplicate members and no NaN/Infinity: one reading of a token, not two."""

    def __init__(self, **_: Any) -> None:
        super().__init__(object_pairs_hook=_unique_members, parse_constant=_no_constant)


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        raise ValueError("duplicate member")
    return members


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class JwtAccessTokenSigner:
    def __init__(
        self,
        keys: KeySetProvider,
        *,
        issuer: str,
        audience: Sequence[str],
        ttl: timedelta,
        leeway: timedelta,
    ) -> None:
        if isinstance(audience, str) or not audience:
            raise ValueError("audience must be a non-empty list of strings")
        if ttl <= timedelta(0):
            raise ValueError("access token ttl must be positive")
        if not timedelta(0) <= leeway <= MAX_LEEWAY:
            raise ValueError("clock leeway must be between 0 and 60 seconds")
        self._keys = keys
        self._issuer = issuer
        # Releases before 2026-11-27 dropped a final "/" of LATCHKEY_ISSUER from
        # `iss`: their tokens, still live during a rolling upgrade, are ours too.
        self._issuers = frozenset({issuer, issuer.rstrip("/")})
        self._audience = tuple(audience)
        self._ttl = ttl
        self._leeway = leeway.total_seconds()

    def issue(
        self,
        *,
        user_id: UUID,
        session_id: UUID,
        client_id: str,
        now: datetime,
        not_after: datetime | None = None,
    ) -> tuple[str, datetime]:
        key = self._keys.current().active
        issued_at = int(_timestamp(now))
        expires = issued_at + int(self._ttl.total_seconds())
        if not_after is not None:
            # Offline verifiers cannot see the session end: the token must not outlive it.
            expires = min(expires, int(_timestamp(not_after)))
        header = {"alg": key.alg, "typ": TOKEN_TYPE, "kid": key.kid}
        claims = {
            "iss": self._issuer,
            "sub": str(user_id),
            "aud": self._audience[0] if len(self._audience) == 1 else list(self._audience),
            "exp": expires,
            "iat": issued_at,
            "jti": secrets.token_urlsafe(16),
            "sid": str(session_id),
            "client_id": client_id,
        }
        token = jwt.encode(header, claims, key.key, registry=_REGISTRIES[key.alg])
        return token, datetime.fromtimestamp(expires, UTC)

    def signed_by(self, token: str) -> str:
        """The `kid` of a token this signer has verified (its header is known sound)."""
        return str(json.loads(_b64decode(token.split(".", 1)[0]))["kid"])

    def still_trusts(self, kid: str) -> bool:
        """Whether the key is still published: a key dropped (one that leaked)
        no longer vouches for the tokens it signed, even those seen before."""
        return kid in self._keys.current().verification_keys

    def verify(self, token: str, now: datetime) -> AccessClaims:
        """Raise InvalidToken for any bad token; a naive `now` is a caller bug (ValueError)."""
        now_ts = _timestamp(now)
        # Checked before anything is decoded: a huge token costs nothing.
        if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("access token is malformed")
        try:
            return self._verify(token, now_ts)
        except (InvalidToken, ServiceUnavailable):
            # Keys that cannot be loaded are an outage (503), not a bad token.
            raise
        except Exception as exc:  # any parsing failure of untrusted input is a 401, never a 500
            raise InvalidToken("access token is malformed") from exc

    def _verify(self, token: str, now: float) -> AccessClaims:
        segments = token.split(".")
        if len(segments) != 3 or not all(_SEGMENT.fullmatch(s) for s in segments):
            raise InvalidToken("access token is malformed")
        if not segments[2]:
            raise InvalidToken("access token has no signature")
        header = json.loads(_b64decode(segments[0]), cls=_StrictJSONDecoder)
        if not isinstance(header, dict) or not header.keys() <= _ALLOWED_HEADER:
            raise InvalidToken("access token header is not acceptable")
        kid, alg, typ = header.get("kid"), header.get("alg"), header.get("typ")
        if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH:
            raise InvalidToken("access token names no key")
        key = self._keys.current(kid).verification_keys.get(kid)
        if key is None:
            raise InvalidToken("access token names an unknown key")
        if alg != key.alg:
            raise InvalidToken("access token algorithm does not match its key")
        if not isinstance(typ, str) or typ.lower() not in _ACCEPTED_TYPES:
            raise InvalidToken("not an access token")
        try:
            verified = jwt.decode(
                token, key.key, registry=_REGISTRIES[key.alg], decoder_cls=_StrictJSONDecoder
            )
        except BadSignatureError:
            raise InvalidToken("access token signature does not verify") from None
        return self._check_claims(verified.claims, now)

    def _check_claims(self, claims: dict[str, Any], now: float) -> AccessClaims:
        if claims.get("iss") not in self._issuers:
            raise InvalidToken("access token has the wrong issuer")
        audience = _audience(claims.get("aud"))
        if not set(audience) & set(self._audience):
            raise InvalidToken("access token is not for this audience")
        expires = _numeric_date(claims, "exp")
        issued = _numeric_date(claims, "iat")
        if now > expires + self._leeway:
            raise InvalidToken("access token expired")
        if issued > now + self._leeway:
            raise InvalidToken("access token issued in the future")
        if "nbf" in claims and _numeric_date(claims, "nbf") > now + self._leeway:
            raise InvalidToken("access token not yet valid")
        return AccessClaims(
            subject=_uuid(claims, "sub"),
            session_id=_uuid(claims, "sid"),
            client_id=_text(claims, "client_id"),
            jti=_text(claims, "jti"),
            issued_at=datetime.fromtimestamp(issued, UTC),
            expires_at=datetime.fromtimestamp(expires, UTC),
            issuer=self._issuer,
            audience=audience,
        )


def _timestamp(now: datetime) -> float:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.timestamp()


def _b64decode(segment: str) -> bytes:
    if len(segment) % 4 == 1:
        raise binascii.Error("impossible base64url length")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _audience(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise InvalidToken("access token has no valid audience")


def _numeric_date(claims: dict[str, Any], name: str) -> float:
    value = claims.get(name)
    # bool is an int in Python; 1e999 parses as inf: neither is a date.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(f"access token has no valid {name}")
    if not math.isfinite(value):
        raise InvalidToken(f"access token has no valid {name}")
    return float(value)


def _uuid(claims: dict[str, Any], name: str) -> UUID:
    value = claims.get(name)
    try:
        parsed = UUID(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or str(parsed) != value:
        raise InvalidToken(f"access token has no valid {name}")
    return parsed


def _text(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidToken(f"access token has no valid {name}")
    return value
