"""The `hash` ceiling: raw Argon2id verifies per second, one thread per core.

Run in its own process: `python -m bench.hashrate` with BENCH_HASH, a hash
that the running service itself stored at sign-up (so its parameters m, t, p
are exactly those a login pays), and BENCH_PASSWORD, its password. The
verifies go straight to argon2-cffi's C code, which releases the GIL, without
passlib or the service's concurrency slots in between. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from argon2.low_level import Type, verify_secret


def _verifies(encoded: bytes, password: bytes, seconds: float) -> int:
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        if not verify_secret(encoded, password, Type.ID):
            raise RuntimeError("the reference hash does not verify")
        count += 1
    return count


def measure(encoded: bytes, password: bytes, threads: int, seconds: float) -> float:
    start = threading.Barrier(threads + 1)

    def worker() -> int:
        start.wait()
        return _verifies(encoded, password, seconds)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(worker) for _ in range(threads)]
        start.wait()
        began = time.perf_counter()
        total = sum(f.result() for f in futures)
        elapsed = time.perf_counter() - began
    return total / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    encoded = os.environ["BENCH_HASH"].encode()
    password = os.environ["BENCH_PASSWORD"].encode()
    if not encoded.startswith(b"$argon2id$"):
        raise SystemExit(f"the service does not store argon2id hashes: {encoded[:12]!r}")
    _verifies(encoded, password, 0.5)  # warm-up
    rates = [measure(encoded, password, args.threads, args.seconds) for _ in range(args.runs)]
    parameters = encoded.decode().split("$")[3]  # "m=19456,t=2,p=1"
    print(json.dumps({"rates": rates, "threads": args.threads, "parameters": parameters}))


if __name__ == "__main__":
    main()
