"""The ks detector's window statistics, in exact integer arithmetic, shared by the detector and its calibration.

Values are coded against a :class:`GridReference`; every ``stride`` values a *row* is added:
the cumulative (over codes) count of the values seen so far, less the reference's share, and
the running sums of two rank scores. Any window whose edges fall on rows is then a difference of
two rows, so testing several window sizes costs one subtraction per size and code, however
much the windows overlap. Three distances between a window and the reference, all in units
of the reference CDF, are computed from those differences:

- ``gap``: the Kolmogorov-Smirnov distance, the largest gap between the two CDFs;
- ``shift``: |mean u - 1/2|, u the mid-rank reference CDF value of each window value: the
  mean gap between the CDFs, the statistic of a rank-sum (Wilcoxon) test, for a change of centre;
- ``spread``: |mean |2u - 1| - its reference mean|: how much further from (or closer to) the
  reference median values fall, a rank test (Ansari-Bradley-like) for a change of spread.
"""

from __future__ import annotations

import math

import numpy as np


class GridReference:
    """A reference sample summarised for the windows: evaluation points and the count of values per code.

    A value's *code* says where it falls among the points ``p``: ``2k`` for the open gap just
    below ``p[k]``, ``2k + 1`` for exactly ``p[k]`` (``2K`` above the largest). The points are
    the distinct values of the sample, or, when there are more than ``grid``, ``grid`` of them
    at evenly spaced ranks (a large atom stays one point). Counting a window's codes gives its
    CDF at every point and just below it: the KS distance is then exact, ties and discrete
    values included, when the sample has at most ``grid`` distinct values, and within one
    cell's reference mass (about 1 / ``grid``) of the exact one otherwise.

    Only the points and counts are kept (small snapshots), and :meth:`grow` adds the counts of
    more values of the same stream to it. Integer lookups per code keep the window statistics
    exact: ``cum_ref`` counts reference values at or below the code, and ``rank2`` is
    ``lo + hi - m`` for the code's span ``[lo, hi)`` of reference ranks, so that the mid-rank
    reference CDF value of a value with that code is ``u = 1/2 + rank2 / 2m``.

    >>> ref = GridReference(np.array([1.0, 2.0, 2.0, 3.0]), grid=128)
    >>> ref.codes(np.array([0.5, 2.0, 2.5, 9.0])).tolist()
    [0, 3, 4, 6]
    >>> ref.cum_ref.tolist(), ref.rank2.tolist()
    ([0, 1, 1, 3, 3, 4, 4], [-4, -3, -2, 0, 2, 3, 4])
    """

    def __init__(self, values: np.ndarray, grid: int):
        ref = np.sort(np.asarray(values, dtype=np.float64))
        distinct = np.unique(ref)
        if len(distinct) <= grid:
            points = distinct
        else:
            ranks = np.ceil(np.arange(1, grid + 1) * len(ref) / grid).astype(np.int64) - 1
            points = np.unique(ref[ranks])
        lt = np.searchsorted(ref, points, side="left")
        le = np.searchsorted(ref, points, side="right")
        edges = np.empty(2 * len(points) + 1, dtype=np.int64)
        edges[0:-1:2], edges[1:-1:2], edges[-1] = lt, le, len(ref)
        self._set(points, np.diff(edges, prepend=0))

    def _set(self, points: np.ndarray, counts: np.ndarray) -> None:
        self.points = points
        self.counts = counts  # reference values with each code
        self.n_codes = len(counts)
        self.cum_ref = np.cumsum(counts)
        self.size = m = int(self.cum_ref[-1])
        self.rank2 = 2 * self.cum_ref - counts - m

    def grow(self, counts: np.ndarray) -> None:
        """Add the counts per code of more values to the reference."""
        self._set(self.points, self.counts + counts)

    def codes(self, xs: np.ndarray) -> np.ndarray:
        points = self.points
        left = np.searchsorted(points, xs, side="left")
        hit = points[np.minimum(left, len(points) - 1)] == xs
        return 2 * left + hit

    def __getstate__(self) -> dict:
        return {"points": self.points, "counts": self.counts}

    def __setstate__(self, state: dict) -> None:
        self._set(state["points"], state["counts"])


CHANNELS = ("gap", "shift", "spread")
_LOG_SQRT_HALF_PI = 0.5 * math.log(math.pi / 2.0)


def stride_rows(ref: GridReference, codes: np.ndarray, stride: int, last: tuple) -> tuple:
    """Rows after each complete ``stride`` of ``codes``, continuing from ``last`` = (row, shift, spread).

    A row is ``m * count(code <= c) - n * cum_ref[c]`` over codes c, n the values counted: for
    the values between two rows it is ``m n`` times the gap between their CDF and the
    reference CDF, so a window's KS distance is one subtraction and a maximum away. The shift
    and spread sums add up each value's ``rank2`` and ``|rank2|``. Returns (rows, shift sums,
    spread sums), one entry per complete stride, all int64.
    """
    n = len(codes) // stride
    c = ref.n_codes
    chunks = codes[: n * stride].reshape(n, stride)
    flat = (np.arange(n, dtype=np.int64)[:, None] * c + chunks).ravel()
    hist = np.bincount(flat, minlength=n * c).reshape(n, c)
    hist *= ref.size
    hist -= stride * ref.counts  # each stride adds `stride` values' worth of the reference's mass
    steps = np.cumsum(hist, axis=1)
    scores = ref.rank2[chunks]
    shift, spread = scores.sum(axis=1), np.abs(scores).sum(axis=1)
    if n:  # the running sums start from `last`: added to the first step, not to every row
        steps[0] += last[0]
        shift[0] += last[1]
        spread[0] += last[2]
    return np.cumsum(steps, axis=0), np.cumsum(shift), np.cumsum(spread)


class WindowGeometry:
    """Per reference and window sizes, the constants that turn row differences into distances."""

    def __init__(self, ref: GridReference, sizes: tuple[int, ...]):
        self.sizes = np.asarray(sizes, dtype=np.int64)
        self.m = ref.size
        self.spread_total = int(ref.counts @ np.abs(ref.rank2))  # m^2 * reference mean of |2u - 1|

    def distances(self, rows: np.ndarray, shift: np.ndarray, spread: np.ndarray, first: int, count: int,
                  spans: np.ndarray) -> np.ndarray:
        """Distances (tests, windows, CHANNELS) of the windows ending at rows ``first``, ..., ``first + count - 1``.

        A window of ``spans[j]`` rows ends at row e and starts at row e - spans[j].
        """
        m, n = self.m, self.sizes
        out = np.empty((count, len(n), 3))
        end = slice(first, first + count)
        ending = rows[end]
        for j, span in enumerate(spans.tolist()):
            diff = ending - rows[first - span: first + count - span]
            out[:, j, 0] = np.abs(diff, out=diff).max(axis=1)   # the largest gap either way
        # The rank sums of every size at once: a gather of a few numbers, where the rows are a slice per size.
        starts = np.arange(first, first + count)[:, None] - spans[None, :]
        out[:, :, 1] = shift[end][:, None] - shift[starts]
        out[:, :, 2] = spread[end][:, None] - spread[starts]
        out[:, :, 0] /= n * m
        out[:, :, 1] = np.abs(out[:, :, 1]) / (2 * m * n)
        out[:, :, 2] = np.abs(m * out[:, :, 2] - n * self.spread_total) / (m * m * n)
        return out


def effective_sizes(sizes, m: int) -> np.ndarray:
    """n m / (n + m): the sample size that scales a two-sample statistic."""
    n = np.asarray(sizes, dtype=np.float64)
    return n * m / (n + m)


def surprise(dist: np.ndarray, sizes, m: int) -> np.ndarray:
    """-log of each distance's asymptotic two-sided tail probability, so the channels weigh alike.

    Kolmogorov's tail 2 exp(-2 lambda^2) for ``gap`` (lambda = D sqrt(n_eff)), the normal tail
    for the two rank scores (z = d sqrt(12 n_eff)). Only their order matters: the level is simulated.
    """
    root = np.sqrt(effective_sizes(sizes, m))[None, :]
    out = np.empty(dist.shape)
    lam = dist[..., 0] * root
    out[..., 0] = 2.0 * lam * lam - math.log(2.0)
    z = np.maximum(dist[..., 1:] * (math.sqrt(12.0) * root)[..., None], 1e-12)
    out[..., 1:] = 0.5 * z * z + np.log(z) + _LOG_SQRT_HALF_PI
    return out


def limits_at(level: float, sizes, m: int) -> np.ndarray:
    """The distances, shape (windows, CHANNELS), whose surprise is ``level``: the thresholds for independent values."""
    lam = math.sqrt(max(level + math.log(2.0), 0.0) / 2.0)
    z = max(math.sqrt(2.0 * max(level, 0.0)), 1.0)
    for _ in range(60):  # Newton on z^2/2 + ln z + c = level (increasing in z)
        z = max(z - (0.5 * z * z + math.log(z) + _LOG_SQRT_HALF_PI - level) / (z + 1.0 / z), 1e-6)
    root = np.sqrt(effective_sizes(sizes, m))
    return np.stack([lam / root, z / (math.sqrt(12.0) * root), z / (math.sqrt(12.0) * root)], axis=1)
