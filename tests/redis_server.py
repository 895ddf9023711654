"""The Redis that throttling tests share: redis://127.0.0.1:6379 unless
LATCHKEY_TEST_REDIS_URL says otherwise. Each test uses its own key namespace."""

from __future__ import annotations

import os
import uuid

import pytest
import redis

REDIS_URL = os.environ.get("LATCHKEY_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def require_redis() -> None:
    """Skip without Redis, with a message; under CI (where Redis runs) fail instead."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis at {REDIS_URL} is unreachable in CI: {exc}", pytrace=False)
        pytest.skip(f"Redis at {REDIS_URL} is unreachable (start one, or set CI to fail): {exc}")


def unique_namespace() -> str:
    return f"latchkey-test-{uuid.uuid4().hex}"


def delete_keys(namespace: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        for key in client.scan_iter(match=f"*{namespace}*"):
            client.delete(key)
    finally:
        client.close()
