"""Refresh tokens: entropy, keyed digests, successor seals and the development key file."""

from __future__ import annotations

import hashlib
import re
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from adapters.tokens import HmacRefreshTokenCodec, load_or_create_secret
from domain.errors import InvalidRefreshToken

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
URLSAFE = re.compile(r"[A-Za-z0-9_-]+")


@pytest.fixture
def codec() -> HmacRefreshTokenCodec:
    return HmacRefreshTokenCodec(KEY)


def test_ten_thousand_new_tokens_are_unique_urlsafe_and_carry_256_bits(
    codec: HmacRefreshTokenCodec,
) -> None:
    tokens = [codec.new_token() for _ in range(10_000)]

    assert len(set(tokens)) == 10_000
    for token in tokens:
        assert len(token) >= 43  # token_urlsafe(32): 32 bytes = 256 bits in base64url
        assert URLSAFE.fullmatch(token)


def test_a_digest_is_a_stable_keyed_hex_hmac(codec: HmacRefreshTokenCodec) -> None:
    token = codec.new_token()

    digest = codec.digest(token)

    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert digest == codec.digest(token)
    assert digest != hashlib.sha256(token.encode()).hexdigest()
    assert digest != HmacRefreshTokenCodec(OTHER_KEY).digest(token)
    assert digest != codec.digest(codec.new_token())


def test_a_seal_opens_with_its_parent_to_the_successor(codec: HmacRefreshTokenCodec) -> None:
    parent, successor = codec.new_token(), codec.new_token()

    seal = codec.seal(parent, successor)

    assert codec.unseal(parent, seal) == successor


def test_a_seal_does_not_contain_the_successor(codec: HmacRefreshTokenCodec) -> None:
    parent, successor = codec.new_token(), codec.new_token()

    seal = codec.seal(parent, successor)

    assert successor.encode() not in seal
    assert parent.encode() not in seal
    assert codec.digest(successor).encode() not in seal


def test_sealing_twice_gives_different_seals_that_both_open(codec: HmacRefreshTokenCodec) -> None:
    parent, successor = codec.new_token(), codec.new_token()

    first, second = codec.seal(parent, successor), codec.seal(parent, successor)

    assert first != second
    assert codec.unseal(parent, first) == codec.unseal(parent, second) == successor


def test_a_seal_does_not_open_with_another_token(codec: HmacRefreshTokenCodec) -> None:
    seal = codec.seal(codec.new_token(), codec.new_token())
    with pytest.raises(InvalidRefreshToken):
        codec.unseal(codec.new_token(), seal)


def test_a_seal_does_not_open_under_another_server_key(codec: HmacRefreshTokenCodec) -> None:
    parent = codec.new_token()
    seal = codec.seal(parent, codec.new_token())
    with pytest.raises(InvalidRefreshToken):
        HmacRefreshTokenCodec(OTHER_KEY).unseal(parent, seal)


@pytest.mark.parametrize(
    "damage",
    [
        lambda seal: seal[:-1] + bytes([seal[-1] ^ 1]),
        lambda seal: seal[:20] + bytes([seal[20] ^ 0x80]) + seal[21:],
        lambda seal: bytes([seal[0] ^ 0x7F]) + seal[1:],
        lambda seal: seal[:-5],
        lambda seal: seal[:10],
        lambda seal: b"",
    ],
    ids=["flipped tag", "flipped ciphertext", "unknown version", "truncated", "stub", "empty"],
)
def test_a_damaged_seal_raises_invalid_refresh_token(
    codec: HmacRefreshTokenCodec, damage: Callable[[bytes], bytes]
) -> None:
    parent = codec.new_token()
    seal = codec.seal(parent, codec.new_token())
    with pytest.raises(InvalidRefreshToken):
        codec.unseal(parent, damage(seal))


def test_a_hash_key_shorter_than_256_bits_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        HmacRefreshTokenCodec(b"short")


def test_a_missing_secret_file_is_created_private_with_its_directories(tmp_path: Path) -> None:
    path = tmp_path / "var" / "secrets" / "refresh-token-key"

    secret = load_or_create_secret(path)

    assert len(secret) == 32
    assert path.read_bytes() == secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(path) == secret


def test_workers_starting_together_end_up_with_one_secret(tmp_path: Path) -> None:
    path = tmp_path / "refresh-token-key"

    with ThreadPoolExecutor(max_workers=8) as pool:
        secrets = list(pool.map(lambda _: load_or_create_secret(path), range(32)))

    assert len(set(secrets)) == 1
    assert secrets[0] == path.read_bytes()
    assert list(tmp_path.iterdir()) == [path]


def test_a_truncated_secret_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "refresh-token-key"
    path.write_bytes(b"tiny")
    with pytest.raises(ValueError, match="fewer than 32 bytes"):
        load_or_create_secret(path)
