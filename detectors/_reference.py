"""A numeric reference sample: its empirical CDF, and the cell codes the window statistics count in."""

from __future__ import annotations

import itertools
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
            squares, products = _centred_sums(values[start:start + self.span])
            self.squares += squares
            self.products += products
            self.n += self.span
        self._open = values[full:]

    @property
    def inflation(self) -> float:
        return self._inflation(self.squares, self.products, self.n - self.n // self.span)  # one mean per span

    @property
    def provisional_inflation(self) -> float:
        """The estimate with the span being filled counted too (centred on its own mean): a first guess."""
        if len(self._open) < 2:
            return self.inflation
        squares, products = _centred_sums(self._open)
        dof = self.n - self.n // self.span + len(self._open) - 1
        return self._inflation(self.squares + squares, self.products + products, dof)

    def _inflation(self, squares: float, products: float, dof: int) -> float:
        if dof < 2:
            return 1.0
        lrv = (squares + 2.0 * max(products, 0.0)) / dof
        estimate = (self.prior + dof * lrv) / (self.prior + dof)
        # A variance estimate from dof values is off by sqrt(2 / dof) relative sd: the excess over
        # 1 is raised by two of those, so a short history errs on the quiet side.
        return max(1.0, 1.0 + (estimate - 1.0) * (1.0 + 2.0 * math.sqrt(2.0 / dof)))


def _centred_sums(scores: list[float]) -> tuple[float, float]:
    """Sum of squares and of lag-1 products of ``scores`` around their own mean, summed exactly."""
    mean = math.fsum(scores) / len(scores)
    centred = [v - mean for v in scores]
    return math.fsum(v * v for v in centred), math.fsum(a * b for a, b in itertools.pairwise(centred))


class EarlyInflation:
    """A cautious variance inflation from the first blocks of a stream, before :class:`LongRunVariance` has a span.

    It is the largest of three guesses, each strong where another is weak:

    - ``floor``, a fixed bound;
    - the :class:`LongRunVariance` estimate (no prior) from every block so far, the span being
      filled included: a drift among them can only raise it;
    - the variance inflation (1 + r) / (1 - r) of an AR(1) process whose lag-1 autocorrelation r
      is that of the values so far, raised by two standard errors. It is measured on values, not
      block means, so it is sharp after a few hundred values, where a block estimate is not (for
      AR(1) at phi 0.9, whose inflation is about 19, the block estimate from 8 blocks is under 2
      in one start in 600; this bound was never under 8.6 in 20,000); and a drift present from
      the first value leaves it at 1.

    :meth:`add` takes the scores of whole blocks and the integer ranks ``2 m (u - 1/2)`` of their
    values; :meth:`at` gives the inflation after the first ``blocks`` of them, or None before
    ``min_blocks``. Sums are exact (integers per block, then ``math.fsum``) in stream order, so
    batching cannot change them.

    Independent values, the same drifted from the first value, and AR(1) values at phi 0.9
    (whose inflation is about 19), 320 of each:

    >>> def early(u):  # the reference CDF values u of the stream, in a reference of 1,000 values
    ...     ranks = np.round(2000 * (u - 0.5)).astype(np.int64)
    ...     est = EarlyInflation(block=32, span=31, floor=1.5, min_blocks=8)
    ...     est.add((ranks.reshape(-1, 32).sum(axis=1) * (math.sqrt(3 / 32) / 1000)).tolist(), ranks, 1000)
    ...     return round(est.at(10), 1)
    >>> rng = np.random.default_rng(0)
    >>> x = np.zeros(320)
    >>> for t in range(1, 320):
    ...     x[t] = 0.9 * x[t - 1] + 0.44 * rng.normal()
    >>> early(rng.random(320)), early(0.5 + 0.5 * rng.random(320)), early(1 / (1 + np.exp(-1.7 * x)))
    (1.5, 1.5, 36.0)
    """

    def __init__(self, block: int, span: int, floor: float, min_blocks: int):
        self.block, self.span, self.floor, self.min_blocks = block, span, floor, min_blocks
        # Per block: score, sum of v = u - 1/2, of v^2, of v_i v_(i-1) for the v_i in it, its last v.
        self._blocks: list[tuple[float, float, float, float, float]] = []
        self._first = 0.0

    def __len__(self) -> int:
        return len(self._blocks)

    def add(self, scores: list[float], ranks: np.ndarray, size: int) -> None:
        if not scores:
            return
        a = ranks.reshape(-1, self.block)
        half, quarter = 1.0 / (2 * size), 1.0 / (4 * size * size)
        firsts, lasts = (a[:, 0] * half).tolist(), (a[:, -1] * half).tolist()
        if not self._blocks:
            self._first = firsts[0]
        previous = [self._blocks[-1][4] if self._blocks else 0.0] + lasts[:-1]  # 0: nothing before the first
        inside = ((a[:, 1:] * a[:, :-1]).sum(axis=1) * quarter).tolist()
        self._blocks.extend(zip(scores, (a.sum(axis=1) * half).tolist(), ((a * a).sum(axis=1) * quarter).tolist(),
                                [i + p * f for i, p, f in zip(inside, previous, firsts)], lasts))

    def at(self, blocks: int) -> float | None:
        if blocks < self.min_blocks or blocks > len(self._blocks):
            return None
        kept = self._blocks[:blocks]
        pooled = LongRunVariance(0.0, self.span)
        pooled.add_many(b[0] for b in kept)
        n = blocks * self.block
        total, squares, lagged = (math.fsum(b[i] for b in kept) for i in (1, 2, 3))
        mean = total / n
        spread = squares - total * mean
        # Sum of (v_i - mean)(v_(i-1) - mean) over the n - 1 neighbouring pairs.
        covariance = lagged - mean * (2.0 * total - self._first - kept[-1][4]) + (n - 1) * mean * mean
        r = covariance / spread if spread > 0 else 0.0
        r = min(r + 2.0 * math.sqrt(max(1.0 - r * r, 0.0) / n), 0.999)
        return max(self.floor, pooled.provisional_inflation, (1.0 + r) / (1.0 - r))
