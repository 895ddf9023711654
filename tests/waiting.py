"""Waiting for something another thread or process does, within a bound.

The bound is patience, not a measurement: no test asserts how long it took.
"""

from __future__ import annotations

import time
from collections.abc import Callable

PATIENCE_SECONDS = 10.0


def wait_for(condition: Callable[[], bool], within: float = PATIENCE_SECONDS) -> bool:
    """True as soon as `condition()` holds; False if it still does not after `within` s."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
