"""The bench's verdicts (bench/report.py): a figure measured over less than its
target names is not reported as met."""

from __future__ import annotations

from bench.report import Figure, result_text
from bench.run import parse_options, the_figures


def _rss(value: float, incomplete: str = "") -> Figure:
    """The bench's own RSS figure (target 200 MiB), measured as given."""
    (figure,) = [f for f in the_figures(parse_options([])) if f.key == "rss"]
    figure.value, figure.incomplete = value, incomplete
    return figure


def test_a_complete_run_within_its_target_is_met() -> None:
    figure = _rss(150)
    figure.judge(extra_condition=True)
    assert (figure.met, result_text(figure)) == (True, "met")


def test_a_run_cut_short_within_its_target_is_incomplete_not_met() -> None:
    figure = _rss(150, incomplete="48,888 of the 100,000 refreshes within the time budget")
    figure.judge(extra_condition=True)
    assert (figure.met, result_text(figure)) == (None, "incomplete")


def test_a_run_cut_short_that_already_misses_is_not_met() -> None:
    over = _rss(250, incomplete="48,888 of the 100,000 refreshes")
    over.judge(extra_condition=True)
    growing = _rss(150, incomplete="48,888 of the 100,000 refreshes")
    growing.judge(extra_condition=False)
    assert [result_text(over), result_text(growing)] == ["NOT MET", "NOT MET"]


def test_an_unmeasured_figure_is_not_applicable() -> None:
    figure = _rss(150)
    figure.value = None
    figure.judge()
    assert (figure.met, result_text(figure)) == (None, "n/a")
