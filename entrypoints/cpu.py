"""How many CPUs this process may really use.

The affinity mask says which CPUs the scheduler may run it on; a container's
CPU limit (`docker run --cpus`, a Kubernetes limit) is a cgroup quota on top
of that, which neither the affinity nor `os.cpu_count()` shows. Sizing the
hashing threads by the host's CPUs inside a one-CPU container would run many
19 MiB Argon2 hashes at once on a single CPU's worth of time.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def usable_cores(cgroup_root: Path | None = None) -> int:
    """The CPUs of the affinity mask, capped by the cgroup's CPU quota (rounded up)."""
    if hasattr(os, "sched_getaffinity"):
        cores = len(os.sched_getaffinity(0))
    else:
        cores = os.cpu_count() or 1
    quota = cpu_quota(cgroup_root or CGROUP_ROOT)
    if quota is not None:
        cores = min(cores, math.ceil(quota))
    return max(1, cores)


def cpu_quota(root: Path) -> float | None:
    """CPUs' worth of time per period allowed by the cgroup (v2, else v1); None when unlimited.

    Read where a container sees its own cgroup: the root of the cgroup mount.
    """
    v2 = _read(root / "cpu.max")
    if v2 is not None:
        quota, _, period = v2.partition(" ")
        return _ratio(quota, period)
    quota_v1 = _read(root / "cpu" / "cpu.cfs_quota_us")
    period_v1 = _read(root / "cpu" / "cpu.cfs_period_us")
    if quota_v1 is not None and period_v1 is not None:
        return _ratio(quota_v1, period_v1)
    return None


def _ratio(quota: str, period: str) -> float | None:
    try:
        allowed, per = int(quota), int(period)
    except ValueError:  # "max": no limit
        return None
    return allowed / per if allowed > 0 and per > 0 else None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None
