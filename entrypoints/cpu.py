"""How many CPUs this process may really use.

The affinity mask says which CPUs the scheduler may run it on; a container's
CPU limit (`docker run --cpus`, a Kubernetes limit) or a systemd `CPUQuota=`
is a cgroup quota on top of that, which neither the affinity nor
`os.cpu_count()` shows. Sizing the hashing threads by the host's CPUs inside a
one-CPU container would run many 19 MiB Argon2 hashes at once on a single
CPU's worth of time.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


def usable_cores(cgroup_root: Path | None = None, proc_cgroup: Path | None = None) -> int:
    """The CPUs of the affinity mask, capped by the cgroup's CPU quota (rounded up)."""
    if hasattr(os, "sched_getaffinity"):
        cores = len(os.sched_getaffinity(0))
    else:
        cores = os.cpu_count() or 1
    quota = cpu_quota(cgroup_root or CGROUP_ROOT, proc_cgroup or PROC_CGROUP)
    if quota is not None:
        cores = min(cores, math.ceil(quota))
    return max(1, cores)


def cpu_quota(root: Path, proc_cgroup: Path) -> float | None:
    """The tightest quota, in CPUs, from this process's cgroup up to the root of
    the mount (cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us`); None when unlimited.

    Inside a container with its own cgroup namespace the process's cgroup is
    the root itself; on a host (a systemd unit) it is a path below it.
    """
    v2, v1 = _own_cgroups(_read(proc_cgroup) or "")
    quotas = [_v2_quota(directory) for directory in _up_to(root, v2)]
    quotas += [_v1_quota(directory) for directory in _up_to(root / "cpu", v1)]
    limits = [quota for quota in quotas if quota is not None]
    return min(limits) if limits else None


def _own_cgroups(text: str) -> tuple[str, str]:
    """This process's cgroup paths: the v2 one ("0::path") and the v1 cpu controller's."""
    v2 = v1 = "/"
    for line in text.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and not controllers:
            v2 = path
        elif "cpu" in controllers.split(","):
            v1 = path
    return v2, v1


def _up_to(root: Path, cgroup: str) -> Iterator[Path]:
    """The directory of `cgroup` under `root`, then each parent up to `root`."""
    relative = PurePosixPath(cgroup).relative_to("/") if cgroup.startswith("/") else None
    parts = [p for p in (relative.parts if relative else ()) if p not in ("", ".", "..")]
    for depth in range(len(parts), -1, -1):
        yield root.joinpath(*parts[:depth])


def _v2_quota(directory: Path) -> float | None:
    text = _read(directory / "cpu.max")
    if text is None:
        return None
    quota, _, period = text.partition(" ")
    return _ratio(quota, period)


def _v1_quota(directory: Path) -> float | None:
    quota = _read(directory / "cpu.cfs_quota_us")
    period = _read(directory / "cpu.cfs_period_us")
    return _ratio(quota, period) if quota is not None and period is not None else None


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
