"""The allocator tuning that keeps hashing fast and a worker's memory bounded."""

from __future__ import annotations

import platform

import pytest

from entrypoints.memory import keep_hash_buffers_warm


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_glibc_accepts_the_allocator_tuning() -> None:
    assert keep_hash_buffers_warm() is True
