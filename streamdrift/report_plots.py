"""The report's plots, drawn with matplotlib (Agg: no display needed) and handed out as PNG bytes."""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import matplotlib

matplotlib.use("Agg")   # before pyplot: no display, no GUI toolkit

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from .shift import Comparison  # noqa: E402

DPI = 80
WIDTH = 9.0                 # inches: 720 px at DPI
MAX_PANELS = 6              # subplots per figure; the report lists what is left out
BEFORE, AFTER = "#4c78a8", "#e45756"
DRIFTING, RESOLVED = "#e45756", "#54a24b"
SEVERITY = {"critical": "#b2182b", "warning": "#f58518", "info": "#54a24b"}
CATEGORIES_SHOWN = 15

STYLE = {"font.size": 9, "axes.titlesize": 9, "axes.spines.top": False, "axes.spines.right": False}


def _styled(draw):
    """Draw under the report's style without changing matplotlib's global settings."""
    @functools.wraps(draw)
    def styled(*args, **kwargs):
        with plt.rc_context(STYLE):
            return draw(*args, **kwargs)
    return styled


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buffer.getvalue()


def save(fig: Figure, path: str | Path) -> int:
    data = png(fig)
    Path(path).write_bytes(data)
    return len(data)


# -- before against after ---------------------------------------------------------------------------
@_styled
def comparison_figure(c: Comparison, title: str) -> Figure:
    """Numbers: histograms of both samples on common bins (from their quantile functions) and both CDFs.
    Categories: the frequency of each category before and after, largest change first."""
    if c.type == "numeric":
        return _numeric_comparison(c, title)
    return _categorical_comparison(c, title)


def _numeric_comparison(c: Comparison, title: str) -> Figure:
    fig, (hist, cdf) = plt.subplots(1, 2, figsize=(WIDTH, 2.8), layout="constrained")
    fig.suptitle(title)
    levels = np.asarray(c.levels, dtype=float)
    sides = [(name, np.maximum.accumulate(np.asarray(q, dtype=float)), color)
             for name, q, color in (("before", c.before_quantiles, BEFORE), ("after", c.after_quantiles, AFTER))
             if len(q) and np.isfinite(q).all()]
    if not sides:
        hist.text(0.5, 0.5, "no values", ha="center", va="center", transform=hist.transAxes)
        return fig
    # Common bins over the bulk of both samples (p1..p99), so one outlier does not squash the rest.
    low = min(float(np.interp(0.01, levels, q)) for _, q, _ in sides)
    high = max(float(np.interp(0.99, levels, q)) for _, q, _ in sides)
    if not high > low:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, 31)
    for name, q, color in sides:
        mass = np.diff(_cdf(edges, q, levels))
        hist.stairs(mass / np.diff(edges), edges, fill=True, alpha=0.35, color=color, label=name)
        hist.stairs(mass / np.diff(edges), edges, color=color, linewidth=1.2)
        cdf.plot(q, levels, color=color, linewidth=1.5, label=name)
    hist.set_title("distribution (density)")
    hist.set_yticks([])
    hist.legend(frameon=False, loc="upper right")
    cdf.set_title("cumulative share")
    cdf.set_ylim(0, 1)
    cdf.set_xlim(low - 0.05 * (high - low), high + 0.05 * (high - low))
    cdf.grid(alpha=0.3)
    return fig


def _cdf(x: np.ndarray, quantiles: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """The cumulative share at x of a distribution known by its (non-decreasing) quantile function."""
    return np.interp(x, quantiles, levels, left=0.0, right=1.0)


def _categorical_comparison(c: Comparison, title: str) -> Figure:
    rows = list(c.rows[:CATEGORIES_SHOWN])
    height = 1.0 + 0.28 * max(len(rows), 1)
    fig, ax = plt.subplots(figsize=(WIDTH, height), layout="constrained")
    fig.suptitle(title)
    y = np.arange(len(rows))
    ax.barh(y - 0.2, [r.before or 0.0 for r in rows], height=0.4, color=BEFORE, label="before")
    ax.barh(y + 0.2, [r.after or 0.0 for r in rows], height=0.4, color=AFTER, label="after")
    ax.set_yticks(y, [r.label for r in rows])
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    more = len(c.rows) - len(rows)
    ax.set_title("share of each category, largest change first" + (f" ({more} more not shown)" if more > 0 else ""))
    ax.legend(frameon=False, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return fig


# -- statistics over event time ---------------------------------------------------------------------
@dataclass
class Series:
    """One detector's statistic and threshold over event time, in one scope."""

    label: str
    scope: str = "all"
    times: list[datetime] = field(default_factory=list)
    statistic: list[float | None] = field(default_factory=list)
    threshold: list[float | None] = field(default_factory=list)
    states: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Mark:
    """An alert on a time axis."""

    time: datetime
    status: str          # drifting | resolved
    severity: str
    scope: str | None = None   # the scope of the series it belongs to; None: every panel


@_styled
def trace_figure(title: str, series: Sequence[Series], marks: Sequence[Mark]) -> Figure:
    """One panel per series: the statistic against its threshold; alerts as vertical lines; drifting time shaded
    red and resolved time green (from the alerts, else from the recorded states)."""
    series = list(series)[:MAX_PANELS]
    fig, axes = plt.subplots(len(series), 1, figsize=(WIDTH, 0.6 + 1.7 * len(series)), sharex=True,
                             layout="constrained", squeeze=False)
    fig.suptitle(title)
    for ax, s in zip(axes[:, 0], series):
        ax.plot(_times(s.times), _floats(s.statistic), color="#333333", linewidth=1.2, label="statistic")
        ax.plot(_times(s.times), _floats(s.threshold), color=DRIFTING, linewidth=1.0, linestyle="--", label="threshold")
        mine = [m for m in marks if m.scope in (None, s.scope)]
        end = s.times[-1] if s.times else None
        _shade(ax, _spans(mine, end) if mine else _state_spans(s))
        for m in mine:
            ax.axvline(_utc(m.time), color=SEVERITY.get(m.severity, "#888888"),
                       linewidth=1.5, linestyle="-" if m.status == "drifting" else ":")
        ax.set_title(s.label, loc="left")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(frameon=False, loc="upper left", ncols=2)
    _time_axis(axes[-1, 0])
    return fig


def _spans(marks: Sequence[Mark], end: datetime | None) -> list[tuple[datetime, datetime, str]]:
    spans = []
    ordered = sorted(marks, key=lambda m: m.time)
    for i, m in enumerate(ordered):
        stop = ordered[i + 1].time if i + 1 < len(ordered) else end
        if stop is not None and stop > m.time:
            spans.append((m.time, stop, m.status))
    return spans


def _state_spans(s: Series) -> list[tuple[datetime, datetime, str]]:
    spans = []
    for i in range(1, len(s.times)):
        if s.states[i] in ("drifting", "resolved"):
            spans.append((s.times[i - 1], s.times[i], s.states[i]))
    return spans


def _shade(ax, spans) -> None:
    for start, stop, state in spans:
        ax.axvspan(_utc(start), _utc(stop),
                   color=DRIFTING if state == "drifting" else RESOLVED, alpha=0.12, linewidth=0)


@_styled
def lines_figure(title: str, panels: Sequence[tuple[str, dict[str, tuple[list[datetime], list[float | None]]],
                                                     dict[str, float]]], percent: bool = False) -> Figure:
    """Panels of named lines over event time, each with optional horizontal limits (dashed): data-quality rates
    against their limits, performance per scope."""
    panels = list(panels)[:MAX_PANELS]
    fig, axes = plt.subplots(len(panels), 1, figsize=(WIDTH, 0.6 + 1.7 * len(panels)), sharex=True,
                             layout="constrained", squeeze=False)
    fig.suptitle(title)
    for ax, (name, lines, limits) in zip(axes[:, 0], panels):
        for i, (label, (times, values)) in enumerate(lines.items()):
            ax.plot(_times(times), _floats(values), linewidth=1.2, label=label,
                    color=f"C{i % 10}")
        for i, (label, value) in enumerate(limits.items()):
            ax.axhline(value, linestyle="--", linewidth=1.0, color=f"C{i % 10}", alpha=0.8, label=label)
        if percent:
            ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.set_title(name, loc="left")
        ax.grid(alpha=0.3)
        ax.legend(frameon=False, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    _time_axis(axes[-1, 0])
    return fig


@_styled
def timeline_figure(title: str, rows: Sequence[str], marks: Sequence[tuple[str, Mark]],
                    end: datetime | None = None) -> Figure:
    """Alerts over event time, one row per signal (and scope): drifting alerts as triangles coloured by severity,
    resolutions as green circles, drifting time shaded."""
    rows = list(rows)
    fig, ax = plt.subplots(figsize=(WIDTH, 0.9 + 0.32 * max(len(rows), 1)), layout="constrained")
    fig.suptitle(title)
    where = {row: i for i, row in enumerate(rows)}
    for row in rows:
        mine = [m for r, m in marks if r == row]
        for start, stop, state in _spans(mine, end):
            if state == "drifting":
                ax.plot([_utc(start), _utc(stop)],
                        [where[row]] * 2, color=DRIFTING, alpha=0.25, linewidth=6, solid_capstyle="butt")
    for row, m in marks:
        ax.scatter([_utc(m.time)], [where[row]],
                   marker="v" if m.status == "drifting" else "o", s=40, zorder=3,
                   color=SEVERITY.get(m.severity, "#888888") if m.status == "drifting" else RESOLVED)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.grid(axis="x", alpha=0.3)
    _time_axis(ax)
    return fig


@_styled
def counts_figure(title: str, groups: Sequence[str], series: dict[str, Sequence[int]]) -> Figure:
    """Grouped bars: per group (a configuration), one bar per series (an alert kind)."""
    fig, ax = plt.subplots(figsize=(WIDTH, 2.6), layout="constrained")
    fig.suptitle(title)
    x = np.arange(len(groups))
    width = 0.8 / max(len(series), 1)
    for i, (name, values) in enumerate(series.items()):
        bars = ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=name, color=f"C{i % 10}")
        ax.bar_label(bars, fontsize=8)
    ax.set_xticks(x, groups)
    ax.set_ylabel("alerts (drifting)")
    ax.legend(frameon=False, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.grid(axis="y", alpha=0.3)
    return fig


def _time_axis(ax) -> None:
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel("event time (UTC)")


def _times(times: Sequence[datetime]) -> np.ndarray:
    """UTC datetimes as numpy's (which have no time zone)."""
    return np.array([_utc(t) for t in times], dtype="datetime64[us]")


def _utc(when: datetime) -> np.datetime64:
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    return np.datetime64(when, "us")


def _floats(values: Sequence[float | None]) -> np.ndarray:
    return np.array([math.nan if v is None else float(v) for v in values], dtype=float)
