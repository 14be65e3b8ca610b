"""A numeric reference sample: its empirical CDF, and the cell codes the KS statistic counts in."""

from __future__ import annotations

import numpy as np


class ReferenceSample:
    """Sorted reference values with the lookups the numeric detectors need.

    A value's *code* says where it falls among the distinct reference values ``v``:
    ``2k`` for the open gap just below ``v[k]``, ``2k + 1`` for exactly ``v[k]`` (``2K`` above
    the largest). Counting a window's codes gives its empirical CDF at every point where the
    KS distance can peak, which makes the statistic exact with ties and discrete values.
    """

    def __init__(self, values: np.ndarray, *, max_size: int | None = None):
        ref = np.sort(np.asarray(values, dtype=np.float64))
        if max_size is not None and len(ref) > max_size:
            # Evenly spaced order statistics: deterministic and closer to the truth than a subsample.
            ref = ref[np.linspace(0, len(ref) - 1, max_size).round().astype(np.int64)]
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


def test_ends(done: int, held: int, incoming: int, window: int, stride: int) -> np.ndarray:
    """Indices, in ``held`` kept codes followed by ``incoming`` new ones, of the windows to test.

    A window is tested after value number k since the last re-arm when k >= window and
    (k - window) % stride == 0; ``done`` values had been monitored before this batch.
    """
    first = max(window, done + 1)
    first += (-(first - window)) % stride
    return np.arange(first - done - 1 + held, held + incoming, stride)


def block_scores(u: np.ndarray, block: int) -> np.ndarray:
    """Standardised means of consecutive blocks of CDF values: mean 0, variance 1 when independent."""
    full = len(u) // block
    return (u[: full * block].reshape(full, block).sum(axis=1) / block - 0.5) * np.sqrt(12.0 * block)


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
