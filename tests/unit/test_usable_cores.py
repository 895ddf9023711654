"""The CPUs a worker sizes its hashing threads by: the affinity, capped by a
container's CPU quota (cgroup v2 `cpu.max`, else v1 `cpu.cfs_quota_us`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from entrypoints.cpu import cpu_quota, usable_cores


@pytest.fixture(autouse=True)
def eight_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)


def v2(root: Path, text: str) -> Path:
    (root / "cpu.max").write_text(text)
    return root


def v1(root: Path, quota: str, period: str = "100000") -> Path:
    (root / "cpu").mkdir()
    (root / "cpu" / "cpu.cfs_quota_us").write_text(quota + "\n")
    (root / "cpu" / "cpu.cfs_period_us").write_text(period + "\n")
    return root


def test_without_a_cgroup_the_affinity_counts(tmp_path: Path) -> None:
    assert cpu_quota(tmp_path) is None
    assert usable_cores(tmp_path) == 8


@pytest.mark.parametrize(("text", "cores"), [("max 100000", 8), ("200000 100000", 2)])
def test_a_cgroup_v2_limit_caps_the_cores(tmp_path: Path, text: str, cores: int) -> None:
    assert usable_cores(v2(tmp_path, text + "\n")) == cores


@pytest.mark.parametrize(("quota", "cores"), [("-1", 8), ("300000", 3), ("50000", 1)])
def test_a_cgroup_v1_quota_caps_the_cores(tmp_path: Path, quota: str, cores: int) -> None:
    assert usable_cores(v1(tmp_path, quota)) == cores


def test_a_fraction_of_a_cpu_rounds_up_and_never_to_zero(tmp_path: Path) -> None:
    root = v2(tmp_path, "150000 100000")
    assert cpu_quota(root) == 1.5
    assert usable_cores(root) == 2
    assert usable_cores(v2(tmp_path, "10000 100000")) == 1


def test_a_quota_above_the_affinity_leaves_the_affinity(tmp_path: Path) -> None:
    assert usable_cores(v2(tmp_path, "1600000 100000")) == 8


def test_an_unreadable_limit_counts_as_none(tmp_path: Path) -> None:
    assert usable_cores(v2(tmp_path, "garbage")) == 8
