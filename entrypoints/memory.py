"""Keep a worker's memory flat under hashing load.

Each Argon2id verify allocates 19 MiB. glibc raises its mmap threshold after
the first such block is freed, so later blocks come from per-thread heap
arenas that are kept, not returned: a worker that served a login storm stays
hundreds of MiB larger. A fixed threshold makes every large block an mmap that
is unmapped when freed, and fewer arenas bound the rest.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

M_ARENA_MAX = -8
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 1024 * 1024
ARENA_MAX = 2

log = logging.getLogger(__name__)


def return_large_blocks_to_the_system() -> bool:
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
    ok = bool(mallopt(M_ARENA_MAX, ARENA_MAX) == 1) and ok
    if not ok:
        log.warning("mallopt refused; memory after hashing bursts may stay high")
    return ok
