"""The figures of a run: one table on stdout, the same as JSON, and a PNG chart."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt
from matplotlib.axes import Axes


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


@dataclass
class Figure:
    """One row of the table. The target applies to `ratio` when there is a
    ceiling, else to `value`; `met` is None when the figure could not be
    measured, or was measured only in part (`incomplete` says how)."""

    key: str
    name: str
    unit: str
    target: float
    better: Literal["higher", "lower"]
    target_text: str
    ceiling_name: str | None = None
    value: float | None = None
    ceiling: float | None = None
    ceiling_unit: str | None = None
    ratio: float | None = None
    met: bool | None = None
    runs: list[float] = field(default_factory=list)
    note: str = ""
    incomplete: str = ""

    def judge(self, extra_condition: bool = True) -> None:
        judged = self.ratio if self.ceiling_name is not None else self.value
        if judged is None:
            self.met = None
            return
        within = judged >= self.target if self.better == "higher" else judged <= self.target
        self.met = within and extra_condition
        if self.met and self.incomplete:
            # Within the target so far, but not over all that the target names:
            # not shown, so not met either. A miss counts whatever the length.
            self.met = None

    def set_ratio(self, value: float, ceiling: float, unit: str) -> None:
        self.value, self.ceiling, self.ceiling_unit = value, ceiling, unit
        self.ratio = value / ceiling if ceiling else None


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}" if value else "0"
    return f"{text} {unit}".rstrip()


def result_text(figure: Figure) -> str:
    if figure.met is None:
        return "incomplete" if figure.incomplete else "n/a"
    return "met" if figure.met else "NOT MET"


def table(figures: Sequence[Figure]) -> str:
    header = ("figure", "value", "ceiling", "ratio", "target", "result")
    rows = [header]
    for f in figures:
        ceiling = (
            f"{f.ceiling_name} {_number(f.ceiling, f.ceiling_unit or '')}"
            if f.ceiling_name is not None
            else "-"
        )
        ratio = f"{f.ratio:.2f}" if f.ratio is not None else "-"
        rows.append(
            (f.name, _number(f.value, f.unit), ceiling, ratio, f.target_text, result_text(f))
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = [f"  {f.name}: {f.note}" for f in figures if f.note]
    return "\n".join(lines + (["", "notes:", *notes] if notes else []))


def write_json(path: Path, document: dict[str, Any]) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(_rounded(document), indent=2, default=str) + "\n")
    tmp.replace(path)


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def downsampled(
    series: dict[str, list[tuple[int, float]]], points: int = 120
) -> dict[str, list[tuple[int, float]]]:
    """At most about `points` samples per series, evenly spaced, the last one kept."""
    thinned = {}
    for name, samples in series.items():
        step = max(1, len(samples) // points)
        kept = samples[::step]
        if samples and kept[-1] != samples[-1]:
            kept.append(samples[-1])
        thinned[name] = kept
    return thinned


def figures_json(figures: Sequence[Figure]) -> list[dict[str, Any]]:
    return [asdict(f) | {"result": result_text(f)} for f in figures]


_COLOURS = {True: "#2e7d32", False: "#c62828", None: "#9e9e9e"}


def _bar(ax: Axes, x: float, height: float | None, met: bool | None, label: str) -> None:
    if height is None:
        ax.bar(x, 0.02, color="none", edgecolor=_COLOURS[None], hatch="//")
        ax.annotate("n/a", (x, 0.02), ha="center", va="bottom", fontsize=9)
        return
    ax.bar(x, height, color=_COLOURS[met], alpha=0.85)
    ax.annotate(label, (x, height), ha="center", va="bottom", fontsize=9)


def _target_line(ax: Axes, x: float, target: float) -> None:
    ax.hlines(target, x - 0.4, x + 0.4, colors="black", linestyles="dashed", linewidth=1.5)


def chart(
    path: Path,
    figures: Sequence[Figure],
    rss_series: dict[str, list[tuple[int, float]]],
    title: str,
) -> None:
    """Ratios against their targets (dashed): green met, red not met, hatched n/a."""
    by_key = {f.key: f for f in figures}
    fig, axes = plt.subplots(
        1, 4, figsize=(15, 4.8), gridspec_kw={"width_ratios": [3.2, 1, 1, 2.4]}
    )
    throughput, healthz, scaling, rss = axes

    keys = [k for k in ("refresh", "login", "me", "introspect") if k in by_key]
    for x, key in enumerate(keys):
        f = by_key[key]
        _bar(throughput, x, f.ratio, f.met, f"{f.ratio:.2f}" if f.ratio is not None else "")
        _target_line(throughput, x, f.target)
    throughput.set_xticks(
        range(len(keys)), [f"{k}\n/ {by_key[k].ceiling_name}" for k in keys], fontsize=9
    )
    throughput.set_ylabel("throughput / ceiling")
    throughput.set_ylim(0, max([1.0, *[by_key[k].ratio or 0 for k in keys]]) * 1.1)
    throughput.set_title("throughput / ceiling (dashed: target, at least)")

    panels: tuple[tuple[Axes, str, str, str], ...] = (
        (healthz, "healthz_p99", "ms", "{:.1f}"),
        (scaling, "refresh_scaling", "p50 ratio, large / small table", "{:.2f}"),
    )
    for ax, panel, ylabel, label_format in panels:
        if panel not in by_key:
            ax.set_visible(False)
            continue
        f = by_key[panel]
        shown = f.ratio if f.ceiling_name is not None else f.value
        _bar(ax, 0, shown, f.met, label_format.format(shown) if shown is not None else "")
        _target_line(ax, 0, f.target)
        ax.set_xticks([0], [f.name.replace(", ", ",\n")], fontsize=8)
        ax.set_xlim(-0.8, 0.8)
        ax.set_ylim(0, max(f.target, shown or 0) * 1.3)
        ax.set_ylabel(ylabel)
        ax.set_title("dashed: target, at most", fontsize=10)

    f_rss = by_key.get("rss")
    for worker, points in rss_series.items():
        if points:
            xs, ys = zip(*points, strict=True)
            rss.plot(xs, ys, label=worker, linewidth=1.2)
    if f_rss is not None:
        rss.axhline(f_rss.target, color="black", linestyle="dashed", linewidth=1.5)
        if f_rss.value is not None:
            rss.axhline(f_rss.value, color=_COLOURS[f_rss.met], linestyle="dotted", linewidth=1)
        top = max([f_rss.target, *[y for pts in rss_series.values() for _, y in pts]])
        rss.set_ylim(0, top * 1.15)
        status = result_text(f_rss)
        done = max((pts[-1][0] for pts in rss_series.values() if pts), default=0)
        peak = f"peak {f_rss.value:.0f} MiB (dotted): " if f_rss.value is not None else ""
        rss.set_title(
            f"each worker's RSS over {done:,} refreshes\n{peak}{status} (dashed: at most)",
            color=_COLOURS[f_rss.met],
            fontsize=10,
        )
    rss.set_xlabel("refreshes done (all workers)")
    rss.set_ylabel("MiB")
    if rss_series:
        rss.legend(fontsize=8, loc="lower right")

    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    tmp = path.with_suffix(".png.tmp")
    fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    tmp.replace(path)
