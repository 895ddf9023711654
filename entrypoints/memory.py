"""Keep a worker's memory flat under hashing load, without paying for it in speed.

Each Argon2id verify allocates one 19 MiB block. Left alone, glibc serves such
blocks from per-thread heap arenas and keeps them, so a worker with many
threads that hashed grows by 19 MiB per thread. Only the hasher's own pool
(this worker's share of the cores) ever hashes, and two arenas bound the rest,
so keeping those few blocks costs a fixed few tens of MiB.

The opposite setting, a low mmap threshold, returns every block at once but
makes each verify map and zero 19 MiB afresh: a third of the hashing rate lost
to page faults (measured with `make bench`). Hence a high, fixed mmap threshold
and a trim threshold above it: the blocks stay mapped and warm, and their
number is bounded by the hashing pool.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
# glibc's largest allowed mmap threshold on 64-bit: above one Argon2 block.
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 64 * 1024 * 1024
ARENA_MAX = 2

log = logging.getLogger(__name__)


def keep_hash_buffers_warm() -> bool:
    """Tune glibc's allocator; a no-op (False) on another C library."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1)
    ok = bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1) and ok
    ok = bool(mallopt(M_ARENA_MAX, ARENA_MAX) == 1) and ok
    if not ok:
        log.warning("mallopt refused; hashing may be slower or memory may grow")
    return ok
