"""The CPUs a worker sizes its hashing threads by: the affinity, capped by the
tightest CPU quota from the process's cgroup up to the root of the mount
(cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from entrypoints.cpu import usable_cores

IN_A_NAMESPACE = "0::/\n"  # a container with its own cgroup namespace
A_SYSTEMD_UNIT = "0::/system.slice/latchkey.service\n"
V1 = "12:cpu,cpuacct:/docker/abc\n11:memory:/docker/abc\n"


@pytest.fixture(autouse=True)
def eight_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)


def cores(root: Path, own: str) -> int:
    proc = root / "proc-self-cgroup"
    proc.write_text(own)
    return usable_cores(root / "fs", proc)


def v2(root: Path, cgroup: str, text: str) -> None:
    directory = root / "fs" / cgroup
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "cpu.max").write_text(text + "\n")


def v1(root: Path, cgroup: str, quota: str, period: str = "100000") -> None:
    directory = root / "fs" / "cpu" / cgroup
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "cpu.cfs_quota_us").write_text(quota + "\n")
    (directory / "cpu.cfs_period_us").write_text(period + "\n")


def test_without_a_cgroup_the_affinity_counts(tmp_path: Path) -> None:
    assert cores(tmp_path, "") == 8


@pytest.mark.parametrize(("text", "expected"), [("max 100000", 8), ("200000 100000", 2)])
def test_a_containers_own_cgroup_v2_limit_caps_the_cores(
    tmp_path: Path, text: str, expected: int
) -> None:
    v2(tmp_path, "", text)
    assert cores(tmp_path, IN_A_NAMESPACE) == expected


def test_a_systemd_units_quota_below_the_root_counts(tmp_path: Path) -> None:
    v2(tmp_path, "", "max 100000")
    v2(tmp_path, "system.slice/latchkey.service", "300000 100000")
    assert cores(tmp_path, A_SYSTEMD_UNIT) == 3


def test_the_tightest_limit_on_the_way_up_counts(tmp_path: Path) -> None:
    v2(tmp_path, "system.slice", "100000 100000")
    v2(tmp_path, "system.slice/latchkey.service", "max 100000")
    assert cores(tmp_path, A_SYSTEMD_UNIT) == 1


@pytest.mark.parametrize(("quota", "expected"), [("-1", 8), ("300000", 3), ("50000", 1)])
def test_a_cgroup_v1_quota_caps_the_cores(tmp_path: Path, quota: str, expected: int) -> None:
    v1(tmp_path, "docker/abc", quota)
    assert cores(tmp_path, V1) == expected


def test_a_fraction_of_a_cpu_rounds_up_and_never_to_zero(tmp_path: Path) -> None:
    v2(tmp_path, "", "150000 100000")
    assert cores(tmp_path, IN_A_NAMESPACE) == 2
    v2(tmp_path, "", "10000 100000")
    assert cores(tmp_path, IN_A_NAMESPACE) == 1


def test_a_quota_above_the_affinity_leaves_the_affinity(tmp_path: Path) -> None:
    v2(tmp_path, "", "1600000 100000")
    assert cores(tmp_path, IN_A_NAMESPACE) == 8


def test_unreadable_limits_count_as_none(tmp_path: Path) -> None:
    v2(tmp_path, "", "garbage")
    v1(tmp_path, "", "x", "y")
    assert cores(tmp_path, "0::/../../etc\n12:cpu:/\n") == 8
