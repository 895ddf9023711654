"""The first requests of a fresh worker arrive together: the throttles they make
at once must all work (a race inside `limits` once turned some of them into 500s,
adapters/throttle.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# A fresh interpreter: in this one, redis was imported long ago.
FIRST_USE_FROM_MANY_THREADS = textwrap.dedent(
    """
    import threading
    from adapters.throttle import LimitsRequestThrottle

    errors = []
    start = threading.Barrier(16)

    def make():
        start.wait()
        try:
            LimitsRequestThrottle(
                storage_uri="redis://127.0.0.1:6379",
                max_requests=1,
                window_seconds=1,
                namespace="first-use",
            )
        except Exception as error:
            errors.append(repr(error))

    threads = [threading.Thread(target=make) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(errors)
    """
)


def test_throttles_made_from_many_threads_at_once_in_a_fresh_process_all_work() -> None:
    # Making a throttle does not connect, so no Redis is needed here.
    done = subprocess.run(
        [sys.executable, "-c", FIRST_USE_FROM_MANY_THREADS],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "[]", done.stdout
