"""What moved between two samples of one signal: quantiles or category frequencies, before against after,
largest changes first. `streamdrift explain` prints it; the report shows it at each alert.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> moved = compare_values("income", rng.normal(0, 1, 2000).tolist(), rng.normal(1, 1, 2000).tolist())
>>> sorted({round(row.change, 1) for row in moved.rows})    # every quantile moved by about 1
[1.0, 1.1]
>>> cats = compare_values("country", ["DE"] * 70 + ["FR"] * 30, ["DE"] * 50 + ["FR"] * 30 + ["BR"] * 20)
>>> [(row.label, round(row.change, 2)) for row in cats.rows]
[('BR (new)', 0.2), ('DE', -0.2), ('FR', 0.0)]
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from stream.values import category

SHARES = ("missing", "outside min/max")   # summary rows that are shares of the values, shown in %
QUANTILES = (0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95)   # the levels the table compares (p1, p99: too noisy)
MIN_STRETCH = 50     # the shortest recent stretch `most_different_stretch` considers (a large shift is detected
STRETCH_STEP = 25    # within about that many values), in steps of 25 values


@dataclass(frozen=True)
class Row:
    """One line of the table: a quantile, a category or a summary statistic, before and after."""

    name: str
    before: float | None
    after: float | None
    note: str = ""

    @property
    def change(self) -> float:
        if self.before is None or self.after is None:
            return math.nan
        return self.after - self.before

    @property
    def label(self) -> str:
        return f"{self.name} ({self.note})" if self.note else self.name


@dataclass(frozen=True)
class Comparison:
    """Before against after for one signal. Numeric: `rows` are quantiles, largest shift first, `scale` the
    spread before (to read shifts in standard deviations); categorical: `rows` are categories, largest change of
    frequency first. `summary`: mean, std and the missing share (numeric), the missing share (categorical)."""

    signal: str
    type: Literal["numeric", "categorical"]
    before_count: int | None
    after_count: int | None
    rows: tuple[Row, ...]
    summary: tuple[Row, ...] = ()
    scale: float | None = None
    # What the plots draw: quantile functions (numeric) or frequency tables (categorical).
    levels: tuple[float, ...] = ()
    before_quantiles: tuple[float, ...] = ()
    after_quantiles: tuple[float, ...] = ()
    before_frequencies: dict[str, float] = field(default_factory=dict)
    after_frequencies: dict[str, float] = field(default_factory=dict)

    def largest(self) -> Row | None:
        return self.rows[0] if self.rows else None


def infer_type(values: Sequence[Any]) -> Literal["numeric", "categorical"]:
    """Numbers (not true/false) make a numeric signal; anything else a categorical one."""
    present = [v for v in values if v is not None]
    numeric = present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present)
    return "numeric" if numeric else "categorical"


def numbers(values: Sequence[Any]) -> np.ndarray:
    """The finite numbers among `values` (missing values and text left out)."""
    out = np.array([float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)], dtype=float)
    return out[np.isfinite(out)]


def frequencies(values: Sequence[Any]) -> dict[str, float]:
    """Share of each category among the present values, most frequent first."""
    counts = Counter(category(v) for v in values if v is not None)
    total = sum(counts.values())
    return {k: n / total for k, n in counts.most_common()} if total else {}


def compare_values(signal: str, before: Sequence[Any], after: Sequence[Any],
                   type: Literal["numeric", "categorical"] | None = None) -> Comparison:
    """Two samples of raw event values (None for missing) compared."""
    type = type or infer_type(list(before) + list(after))
    if type == "numeric":
        b, a = numbers(before), numbers(after)
        levels = np.linspace(0, 1, 41)
        summary = (_row("mean", _stat(np.mean, b), _stat(np.mean, a)),
                   _row("std", _stat(np.std, b), _stat(np.std, a)),
                   _row("missing", _share(before, lambda v: v is None), _share(after, lambda v: v is None)),
                   _row("text (wrong type)", _share(before, _is_text), _share(after, _is_text)))
        summary = tuple(r for r in summary if not (r.name.startswith("text") and not r.before and not r.after))
        return _numeric(signal, len(before), len(after), levels,
                        np.quantile(b, levels) if b.size else np.full(levels.size, np.nan),
                        np.quantile(a, levels) if a.size else np.full(levels.size, np.nan),
                        summary, scale=_stat(np.std, b))
    summary = (_row("missing", _share(before, lambda v: v is None), _share(after, lambda v: v is None)),)
    return compare_frequencies(signal, frequencies(before), frequencies(after), len(before), len(after), summary)


def compare_quantiles(signal: str, levels: Sequence[float], before: Sequence[float], after: Sequence[float],
                      before_count: int | None = None, after_count: int | None = None,
                      summary: tuple[Row, ...] = (), scale: float | None = None) -> Comparison:
    """Two quantile functions compared (a backtest's evidence, a reference profile's quantiles)."""
    levels = np.asarray(levels, dtype=float)
    before_q, after_q = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    if scale is None and before_q.size > 2:
        # The spread of a distribution known by its quantiles: the interquartile range of a normal is 1.349 sd.
        scale = float(np.interp(0.75, levels, before_q) - np.interp(0.25, levels, before_q)) / 1.349 or None
    return _numeric(signal, before_count, after_count, levels, before_q, after_q, summary, scale)


def compare_frequencies(signal: str, before: Mapping[str, float], after: Mapping[str, float],
                        before_count: int | None = None, after_count: int | None = None,
                        summary: tuple[Row, ...] = ()) -> Comparison:
    """Two frequency tables compared (shares, or counts: both are normalised)."""
    b, a = _normalised(before), _normalised(after)
    rows = [Row(name, b.get(name, 0.0), a.get(name, 0.0),
                "new" if name not in b else "gone" if name not in a else "")
            for name in dict.fromkeys([*b, *a])]
    rows.sort(key=lambda r: -abs(r.change))
    return Comparison(signal, "categorical", before_count, after_count, tuple(rows), summary,
                      before_frequencies=b, after_frequencies=a)


def most_different_stretch(reference: np.ndarray | Mapping[str, float], recent: Sequence[Any],
                           type: Literal["numeric", "categorical"], reference_count: int | None = None,
                           min_length: int = MIN_STRETCH, step: int = STRETCH_STEP) -> int:
    """How many of the most recent values differ most from the reference: the length k (from `min_length` up to
    all of `recent`, in steps of `step`) whose last k values are farthest from it, by the Kolmogorov-Smirnov
    distance (numbers) or the total variation distance (categories), weighted by sqrt(k m / (k + m)) so that a
    longer stretch wins unless a shorter one differs clearly more. A drift detector that tests several window
    lengths fires on the shortest that shows the change; this finds that stretch again.

    >>> rng = np.random.default_rng(0)
    >>> recent = list(rng.normal(0, 1, 500)) + list(rng.normal(3, 1, 150))   # the last 150 moved
    >>> most_different_stretch(rng.normal(0, 1, 1000), recent, "numeric")
    150
    """
    n = len(recent)
    if n <= min_length:
        return n
    lengths = list(range(min_length, n, step)) + [n]
    if type == "numeric":
        ref = np.sort(np.asarray(reference, dtype=float))
        ref = ref[np.isfinite(ref)]
        m = reference_count or ref.size
        if not ref.size:
            return n
        values = np.array([float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else np.nan
                           for v in recent])

        def distance(tail: np.ndarray) -> float:
            tail = np.sort(tail[np.isfinite(tail)])
            if not tail.size:
                return 0.0
            points = np.concatenate([ref, tail])
            ecdf_ref = np.searchsorted(ref, points, side="right") / ref.size
            ecdf_tail = np.searchsorted(tail, points, side="right") / tail.size
            return float(np.max(np.abs(ecdf_ref - ecdf_tail)))
        scores = [distance(values[-k:]) * math.sqrt(k * m / (k + m)) for k in lengths]
    else:
        ref_freq = _normalised(reference)
        m = reference_count or 1_000_000

        def distance(tail: Sequence[Any]) -> float:
            freq = frequencies(tail)
            return 0.5 * sum(abs(freq.get(c, 0.0) - ref_freq.get(c, 0.0)) for c in {*freq, *ref_freq})
        scores = [distance(recent[-k:]) * math.sqrt(k * m / (k + m)) for k in lengths]
    return lengths[int(np.argmax(scores))]


def format_table(comparison: Comparison, limit: int = 12) -> list[str]:
    """The comparison as aligned text lines, for a terminal."""
    c = comparison
    lines = []
    if c.type == "numeric":
        width = max([10, *(len(r.name) + 2 for r in c.summary)])
        in_sd = c.scale is not None and c.scale > 0
        lines.append(f"  {'quantile':<{width}}{'before':>12}{'after':>12}{'shift':>12}"
                     + (f"{'in sd':>9}" if in_sd else ""))
        for row in c.rows[:limit]:
            line = f"  {row.label:<{width}}{fmt(row.before):>12}{fmt(row.after):>12}{fmt(row.change, sign=True):>12}"
            if in_sd:
                line += f"{row.change / c.scale:>+9.2f}" if math.isfinite(row.change) else f"{'-':>9}"
            lines.append(line)
    else:
        width = 24
        lines.append(f"  {'category':<24}{'before':>10}{'after':>10}{'change':>10}")
        for row in c.rows[:limit]:
            lines.append(f"  {row.label[:24]:<24}{row.before:>10.1%}{row.after:>10.1%}{row.change * 100:>+9.1f}pp")
        if len(c.rows) > limit:
            rest = sum(abs(r.change) for r in c.rows[limit:])
            lines.append(f"  ... {len(c.rows) - limit} more categories (changing {rest * 100:.1f}pp in all)")
    for row in c.summary:
        if row.name in SHARES or row.name.startswith("text"):
            cells = f"{_pct(row.before):>12}{_pct(row.after):>12}{_pp(row.change):>12}" if c.type == "numeric" \
                else f"{_pct(row.before):>10}{_pct(row.after):>10}{_pp(row.change):>11}"
        else:
            cells = f"{fmt(row.before):>12}{fmt(row.after):>12}{fmt(row.change, sign=True):>12}"
        lines.append(f"  {row.name:<{width}}{cells}")
    return lines


def fmt(x: float | None, sign: bool = False) -> str:
    """Four significant digits, without an exponent for everyday magnitudes: 15,710 0.0034 -53.82."""
    if x is None or not math.isfinite(x):
        return "-"
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e7:
        digits = max(0, 3 - math.floor(math.log10(abs(x))))
        text = f"{x:+,.{digits}f}" if sign else f"{x:,.{digits}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return f"{x:+.4g}" if sign else f"{x:.4g}"


def _numeric(signal: str, before_count, after_count, levels: np.ndarray, before_q: np.ndarray, after_q: np.ndarray,
             summary: tuple[Row, ...], scale: float | None) -> Comparison:
    rows = []
    for level in QUANTILES:
        b, a = float(np.interp(level, levels, before_q)), float(np.interp(level, levels, after_q))
        rows.append(Row(f"p{level * 100:g}", _finite(b), _finite(a)))
    rows.sort(key=lambda r: -abs(r.change) if math.isfinite(r.change) else 0.0)
    return Comparison(signal, "numeric", before_count, after_count, tuple(rows), summary,
                      scale=scale if scale and math.isfinite(scale) else None, levels=tuple(levels.tolist()),
                      before_quantiles=tuple(before_q.tolist()), after_quantiles=tuple(after_q.tolist()))


def _normalised(table: Mapping[str, float]) -> dict[str, float]:
    total = float(sum(table.values()))
    ordered = sorted(table.items(), key=lambda kv: -kv[1])
    return {str(k): v / total for k, v in ordered} if total > 0 else {}


def _row(name: str, before: float | None, after: float | None) -> Row:
    return Row(name, before, after)


def _stat(func, values: np.ndarray) -> float | None:
    return float(func(values)) if values.size else None


def _share(values: Sequence[Any], test) -> float | None:
    return sum(1 for v in values if test(v)) / len(values) if len(values) else None


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def _pp(x: float) -> str:
    return "-" if not math.isfinite(x) else f"{x * 100:+.1f}pp"
