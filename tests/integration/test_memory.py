"""The allocator tuning that keeps a worker's memory flat after hashing bursts."""

from __future__ import annotations

import platform

import pytest

from entrypoints.memory import return_large_blocks_to_the_system


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_glibc_accepts_the_allocator_tuning() -> None:
    assert return_large_blocks_to_the_system() is True
