"""Service client secrets: stored as a keyed SHA-256 whose form must not change,
or every stored client's secret would stop matching."""

from __future__ import annotations

from adapters.client_secrets import HmacClientSecrets

KEY = bytes(range(32))
# HMAC-SHA256(HMAC-SHA256(KEY, "latchkey client secret"), "a-client-secret"), hex.
KNOWN_DIGEST = "d49b811ea1b9bb80af063af0d0f8952e660c56e2301064e391c6d2c553766374"


def test_the_digest_of_a_known_secret_is_the_known_one() -> None:
    assert HmacClientSecrets(KEY).digest("a-client-secret") == KNOWN_DIGEST


def test_only_the_secret_itself_matches_its_digest() -> None:
    secrets = HmacClientSecrets(KEY)
    assert secrets.matches("a-client-secret", KNOWN_DIGEST)
    assert not secrets.matches("a-client-secreT", KNOWN_DIGEST)
    assert not HmacClientSecrets(bytes(range(1, 33))).matches("a-client-secret", KNOWN_DIGEST)
