"""The bench's time budget counts from when `make bench` began, installing included."""

from __future__ import annotations

import time

from bench.run import MAX_SET_UP_SECONDS, parse_options, set_up_seconds


def test_the_budget_counts_the_set_up_before_the_run() -> None:
    options = parse_options(["--started-at", str(time.time() - 40)])
    assert 40 <= set_up_seconds(options.started_at) < 40 + MAX_SET_UP_SECONDS / 2


def test_run_directly_the_budget_counts_from_the_run() -> None:
    assert set_up_seconds(parse_options([]).started_at) == 0


def test_a_stale_or_future_start_neither_eats_the_budget_nor_adds_to_it() -> None:
    assert set_up_seconds(time.time() - 86_400) == MAX_SET_UP_SECONDS
    assert set_up_seconds(time.time() + 3_600) == 0
