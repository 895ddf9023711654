"""Password hashing: argon2id through passlib, with bcrypt kept only to verify old hashes."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import argon2
from passlib.context import CryptContext

T = TypeVar("T")

# OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1 at least.
MIN_MEMORY_COST = 19456
MIN_SALT_BYTES = 8
MIN_HASH_BYTES = 16
MIN_TIME_COST = 2
MIN_PARALLELISM = 1


class Argon2PasswordHasher:
    """Passwords are hashed exactly as given: no trimming, folding or truncation.

    argon2 takes input of any length, unlike bcrypt's 72 bytes, and passlib
    encodes a str as UTF-8 without normalising it.
    """

    def __init__(
        self,
        *,
        memory_cost: int = MIN_MEMORY_COST,
        time_cost: int = MIN_TIME_COST,
        parallelism: int = MIN_PARALLELISM,
        max_concurrency: int | None = None,
    ) -> None:
        if (
            memory_cost < MIN_MEMORY_COST
            or time_cost < MIN_TIME_COST
            or parallelism < MIN_PARALLELISM
        ):
            raise ValueError(
                f"argon2 parameters below the OWASP minimum "
                f"(m={MIN_MEMORY_COST}, t={MIN_TIME_COST}, p={MIN_PARALLELISM})"
            )
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self._minimum = argon2.Parameters(
            type=argon2.Type.ID,
            version=argon2.low_level.ARGON2_VERSION,
            salt_len=16,
            hash_len=32,
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
        )
        self._context = CryptContext(
            schemes=["argon2", "bcrypt"],
            deprecated=["bcrypt"],
            argon2__type="ID",
            argon2__memory_cost=memory_cost,
            # Not `rounds`: passlib would then also flag hashes with *more*
            # rounds as needing an update, i.e. downgrade them.
            argon2__default_rounds=time_cost,
            argon2__min_desired_rounds=time_cost,
            argon2__parallelism=parallelism,
        )
        # Each hash holds memory_cost KiB (19 MiB by default), so a storm of
        # logins queues here instead of exhausting memory. A pool of its own,
        # not a semaphore in the callers' threads: the C allocator keeps a
        # freed 19 MiB buffer in the arena of the thread that used it, and the
        # server's 40 request threads would each keep one.
        self._pool = ThreadPoolExecutor(
            max_workers=max_concurrency or os.cpu_count() or 2, thread_name_prefix="argon2"
        )
        # Verifying this for unknown accounts costs what a real verify costs,
        # so response timing does not reveal which emails have an account.
        self._dummy_hash = self.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return str(self._in_pool(self._context.hash, password))

    def verify(self, password: str, password_hash: str) -> bool:
        try:
            return bool(self._in_pool(self._context.verify, password, password_hash))
        except (ValueError, TypeError):  # malformed or unknown hash: no match
            return False

    def needs_update(self, password_hash: str) -> bool:
        """True for bcrypt, argon2i/d, or argon2id weaker than configured in any
        parameter; a stronger argon2id hash is kept, never downgraded."""
        if password_hash.startswith("$argon2id$"):
            try:
                found = argon2.extract_parameters(password_hash)
            except argon2.exceptions.InvalidHashError:
                return True
            return (
                found.version < argon2.low_level.ARGON2_VERSION
                or found.salt_len < MIN_SALT_BYTES
                or found.hash_len < MIN_HASH_BYTES
                or found.memory_cost < self._minimum.memory_cost
                or found.time_cost < self._minimum.time_cost
                or found.parallelism < self._minimum.parallelism
            )
        try:
            return bool(self._context.needs_update(password_hash))
        except (ValueError, TypeError):
            return True

    def verify_dummy(self, password: str) -> None:
        self.verify(password, self._dummy_hash)

    def _in_pool(self, work: Callable[..., T], *args: str) -> T:
        return self._pool.submit(work, *args).result()
