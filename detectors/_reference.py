"""A numeric reference sample: its empirical CDF, and the cell codes the window statistics count in."""

from __future__ import annotations

import math

import numpy as np


def thin(values: np.ndarray, max_size: int | None) -> np.ndarray:
    """At most ``max_size`` evenly spaced order statistics of ``values`` (all of them, sorted, if fewer).

    Deterministic, and closer to the distribution than a random subsample of the same size.
    """
    ref = np.sort(np.asarray(values, dtype=np.float64))
    if max_size is None or len(ref) <= max_size:
        return ref
    return ref[np.linspace(0, len(ref) - 1, max_size).round().astype(np.int64)]


class ReferenceSample:
    """Sorted reference values with the lookups the numeric detectors need.

    A value's *code* says where it falls among the distinct reference values ``v``:
    ``2k`` for the open gap just below ``v[k]``, ``2k + 1`` for exactly ``v[k]`` (``2K`` above
    the largest). Counting a window's codes gives its empirical CDF at every point where the
    KS distance can peak, which makes the statistic exact with ties and discrete values.
    """

    def __init__(self, values: np.ndarray, *, max_size: int | None = None):
        ref = thin(np.sort(np.asarray(values, dtype=np.float64)), max_size)
        self.sorted = ref
        self.size = len(ref)
        self.distinct, counts = np.unique(ref, return_counts=True)
        le = np.cumsum(counts)  # number of reference values <= distinct[k]
        lt = le - counts
        k = len(self.distinct)
        g = np.empty(2 * k + 1, dtype=np.float64)
        g[0:2 * k:2] = lt
        g[1:2 * k:2] = le
        g[2 * k] = self.size
        self.cdf_at_code = g / self.size
        # Mid-rank CDF value of a value with each code (see mid_cdf).
        mid = self.cdf_at_code.copy()
        mid[1:2 * k:2] = (g[0:2 * k:2] + g[1:2 * k:2]) / (2.0 * self.size)
        self.mid_cdf_at_code = mid
        self.n_codes = 2 * k + 1
        self.has_ties = k < self.size

    def __getstate__(self) -> dict:
        return {"sorted": self.sorted}  # the rest is derived: keep snapshots small

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["sorted"])

    def codes(self, xs: np.ndarray) -> np.ndarray:
        left = np.searchsorted(self.distinct, xs, side="left")
        hit = self.distinct[np.minimum(left, len(self.distinct) - 1)] == xs
        return (2 * left + hit).astype(np.int32)

    def mid_cdf(self, xs: np.ndarray) -> np.ndarray:
        """(#ref < x + #ref <= x) / 2m: uniform-like on [0, 1] under no drift, mean 1/2 even with ties."""
        lo = np.searchsorted(self.sorted, xs, side="left")
        hi = np.searchsorted(self.sorted, xs, side="right")
        return (lo + hi) / (2.0 * self.size)


def window_counts(codes: np.ndarray, n_codes: int, window: int, ends: np.ndarray) -> np.ndarray:
    """Histogram of ``codes[e - window + 1 : e + 1]`` for each inclusive end index ``e`` in ``ends``.

    Built from prefix histograms at the window edges only, so the cost is one pass over the
    codes plus ``n_codes`` per edge, whatever the overlap between windows.
    """
    hi = ends + 1
    lo = hi - window
    base = int(lo[0])
    cuts, inverse = np.unique(np.concatenate([lo, hi]) - base, return_inverse=True)
    seg_len = np.diff(cuts)
    seg = np.repeat(np.arange(1, len(cuts), dtype=np.int64), seg_len)
    part = codes[base + cuts[0]: base + cuts[-1]]
    flat = np.bincount(seg * n_codes + part, minlength=len(cuts) * n_codes)
    prefix = np.cumsum(flat.reshape(len(cuts), n_codes), axis=0)
    return prefix[inverse[len(ends):]] - prefix[inverse[: len(ends)]]


def tested_ends(done: int, held: int, incoming: int, window: int, stride: int) -> np.ndarray:
    """Indices, in ``held`` kept codes followed by ``incoming`` new ones, of the windows to test.

    A window is tested after value number k since the last re-arm when k >= window and
    (k - window) % stride == 0; ``done`` values had been monitored before this batch.
    """
    first = max(window, done + 1)
    first += (-(first - window)) % stride
    return np.arange(first - done - 1 + held, held + incoming, stride)


class RunningSpread:
    """Variance of block scores, pulled towards 1 by ``prior`` pseudo-blocks and never below 1.

    A value above 1 measures how much autocorrelation inflates the variance of a mean.
    Updated value by value (Welford) so the result never depends on how the stream was batched.
    """

    def __init__(self, prior: float):
        self.prior = prior
        self.n, self.mean, self.m2 = 0, 0.0, 0.0

    @property
    def inflation(self) -> float:
        return max(1.0, (self.prior + self.m2) / (self.prior + self.n))

    def add(self, v: float) -> float:
        self.n += 1
        step = v - self.mean
        self.mean += step / self.n
        self.m2 += step * (v - self.mean)
        return self.inflation


class LongRunVariance:
    """Long-run variance of standardised block scores: 1 for independent values, more with autocorrelation.

    Scores are grouped in spans of ``span`` consecutive blocks; within each span, the variance
    and lag-1 autocovariance around the span's own mean are pooled over the spans seen, and the
    estimate is gamma0 + 2 max(gamma1, 0), pulled towards 1 by ``prior`` pseudo-blocks and never
    below 1. Centring on each span's mean is what keeps a drift from passing for noise: a shift
    of level only counts in the span where it happens, not in every span after it. The lag-1
    term matters for slowly decaying correlation (AR(1) at phi 0.9 puts a quarter of the
    variance of a long mean there); a negative one (seasonality shorter than two blocks) is
    ignored, which errs on the quiet side. Spans are summed exactly (``math.fsum``) in stream
    order, so the estimate never depends on how the stream was batched. ``n`` counts the
    blocks in complete spans.

    >>> est = LongRunVariance(prior=0.0, span=4)
    >>> est.add_many([2.0, 3.0, 4.0, 5.0, -2.0, -3.0, -4.0, -5.0, 9.0])
    >>> est.n, round(est.inflation, 3)
    (8, 4.232)
    """

    def __init__(self, prior: float, span: int):
        self.prior = prior
        self.span = span
        self.n = 0
        self.squares = self.products = 0.0  # pooled over complete spans
        self._open: list[float] = []  # scores of the span being filled

    def add_many(self, scores) -> None:
        values = self._open + list(scores)
        full = len(values) // self.span * self.span
        for start in range(0, full, self.span):
            self._pool(values[start:start + self.span])
        self._open = values[full:]

    def _pool(self, scores: list[float]) -> None:
        mean = math.fsum(scores) / len(scores)
        centred = [v - mean for v in scores]
        self.squares += math.fsum(v * v for v in centred)
        self.products += math.fsum(a * b for a, b in zip(centred, centred[1:]))
        self.n += len(scores)

    @property
    def inflation(self) -> float:
        dof = self.n - self.n // self.span  # one mean estimated per span
        if dof < 2:
            return 1.0
        lrv = (self.squares + 2.0 * max(self.products, 0.0)) / dof
        estimate = (self.prior + dof * lrv) / (self.prior + dof)
        # A variance estimate from dof values is off by sqrt(2 / dof) relative sd: the excess over
        # 1 is raised by two of those, so a short history errs on the quiet side.
        return max(1.0, 1.0 + (estimate - 1.0) * (1.0 + 2.0 * math.sqrt(2.0 / dof)))
