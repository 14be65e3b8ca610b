"""Page-Hinkley (two-sided CUSUM) on standardised values, so its defaults mean the same on any feature."""

from __future__ import annotations

import math

import numpy as np

from detectors._params import check_choice, check_float, check_int, numeric_reference
from detectors._reference import RunningSpread
from detectors._streaming import REARM_CHOICES, NumericDetector

_SQRT12 = math.sqrt(12.0)
_SQRT3 = math.sqrt(3.0)


def cusum_threshold(delta: float, arl: float) -> float:
    """Siegmund's approximation: the h giving a one-sided CUSUM this mean run length on unit noise."""

    def run_length(h: float) -> float:
        b = 2.0 * delta * (h + 1.166)
        return (math.exp(b) - b - 1.0) / (2.0 * delta * delta)

    lo, hi = 0.0, 1.0
    while run_length(hi) < arl:
        hi *= 2.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if run_length(mid) < arl else (lo, mid)
    return hi


class PageHinkley(NumericDetector):
    """Page-Hinkley (two-sided CUSUM) test of a change in mean or spread, scale-free and robust to autocorrelation.

    Each value becomes z with mean 0 and variance 1 when there is no drift: with
    ``transform="cdf"`` (default) z = sqrt(12) (F(x) - 1/2), F the reference's mid-rank CDF,
    which is bounded and distribution-free; with ``"standardize"`` z = (x - mean) / sd of the
    reference. The test runs on block sums of ``block`` values, sum(z) / sqrt(block), divided by
    their running spread: the standard deviation of the block sums seen since the last re-arm
    (never below 1, pulled towards 1 while few blocks have been seen), which absorbs
    autocorrelation. Two cumulative sums ``g+ = max(0, g+ + z_b - k)`` and
    ``g- = max(0, g- - z_b - k)``, with k = ``delta`` * sqrt(``block``), alarm when one exceeds
    the threshold; by default the threshold comes from Siegmund's approximation for a mean of
    ``arl`` values between false alarms, shared by all the sums. ``delta`` is the allowance in
    standard deviations of one value: shifts smaller than it are ignored. With ``spread=True``
    (and ``transform="cdf"``) a second pair of sums watches 2|z| - sqrt(3), the standardised
    |2F(x) - 1|, which moves when the spread changes but the centre does not.

    The reference is ``reference`` if given, else the first ``reference_size`` values. After an
    alarm the sums restart; with ``rearm="relearn"`` the next ``reference_size`` values become
    the new reference, so a lasting shift gives one alarm; with ``rearm="keep"`` the reference
    stays, the next ``reference_size`` values are skipped (the pause a relearn takes) and the
    running spreads forget the blocks since their sums were last at zero, so a lasting shift
    alarms again about once per ``reference_size`` values and a return to the reference stops
    the alarms. An alarm is reported at the last value of the block that
    crossed. NaN values are skipped and not counted in ``n_seen``. ``statistic`` is the largest
    cumulative sum.

    Parameters
    ----------
    delta
        Allowance, in standard deviations of one value.
    threshold
        Alarm level for the cumulative sums of standardised block sums; default from ``arl``.
    arl
        Target mean number of values between false alarms (used when ``threshold`` is None).
    block
        Values per block.
    transform
        ``"cdf"`` or ``"standardize"``.
    spread
        Also watch the spread (only with ``transform="cdf"``).
    reference_size
        Warm-up length when no ``reference`` is given, and after each alarm.
    mode
        ``"both"``, ``"up"`` or ``"down"`` (for the centre; the spread is watched both ways).
    rearm
        ``"relearn"`` or ``"keep"``: what happens to the reference after an alarm.

    Examples
    --------
    >>> import numpy as np
    >>> import detectors
    >>> rng = np.random.default_rng(7)
    >>> det = detectors.create("page_hinkley", reference=rng.standard_t(3, size=1000))
    >>> stream = np.concatenate([rng.standard_t(3, size=5000), rng.standard_t(3, size=3000) + 0.5])
    >>> det.update_many(stream)
    array([5215])
    """

    kind = "page_hinkley"
    _PRIOR_BLOCKS = 20.0  # pseudo-blocks of unit variance behind the running spread

    def __init__(self, *, reference=None, delta: float = 0.2, threshold: float | None = None,
                 arl: float = 1e7, block: int = 32, transform: str = "cdf", spread: bool = True,
                 reference_size: int = 1000, mode: str = "both", rearm: str = "relearn"):
        self.delta = check_float("page_hinkley", "delta", delta, low=0.0, high=10.0, example=0.2)
        self.arl = check_float("page_hinkley", "arl", arl, low=10.0, high=1e15, low_open=False, example=1e7)
        if threshold is not None:
            threshold = check_float("page_hinkley", "threshold", threshold, low=0.0, high=1e9, example=5.0)
        self.block = check_int("page_hinkley", "block", block, minimum=1, example=32)
        self.transform = check_choice("page_hinkley", "transform", transform, ("cdf", "standardize"), '"cdf"')
        self.spread = check_choice("page_hinkley", "spread", spread, (True, False), "True")
        self.reference_size = check_int("page_hinkley", "reference_size", reference_size, minimum=20, example=1000)
        self.mode = check_choice("page_hinkley", "mode", mode, ("both", "up", "down"), '"both"')
        self.rearm = check_choice("page_hinkley", "rearm", rearm, REARM_CHOICES, '"keep"')
        self.reference = numeric_reference("page_hinkley", reference, minimum=20)
        self._max_reference = 100_000
        self._channels = 2 if (self.spread and self.transform == "cdf") else 1
        sums = (2 if mode == "both" else 1) + 2 * (self._channels - 1)  # one-sided sums sharing the arl
        self._k = self.delta * math.sqrt(self.block)
        self._h = threshold if threshold is not None else cusum_threshold(self._k, self.arl / self.block * sums)
        self.reset()

    def _on_reference(self, values: np.ndarray, from_stream: bool) -> None:
        ref = self._ref.sorted
        self._mean = float(ref.mean())
        self._sd = float(ref.std()) or 1.0
        if not from_stream:  # a supplied reference may be sorted: its order says nothing of the stream
            return
        # A reference taken from the stream shows its autocorrelation: start the spreads with it.
        for spread, column in zip(self._spreads, self._block_scores(self._standardise(values))):
            for v in column.tolist():
                spread.add(v)

    def _reset_monitor(self) -> None:
        self._threshold = self._h
        self._pending = np.empty(0, dtype=np.float64)
        self._cusums = [[0.0, 0.0] for _ in range(self._channels)]  # g+, g- per channel
        self._spreads = [RunningSpread(self._PRIOR_BLOCKS) for _ in range(self._channels)]
        self._calm = [None] * self._channels  # each spread as of its channel's last block with both sums at 0
        self._quiet = 0  # values still to skip after an alarm with a kept reference

    def _after_alarm(self) -> None:
        if self.rearm == "relearn":
            self._relearn_reference()
            return
        # Keep the reference; forget the blocks that built the alarm, so a lasting shift cannot
        # inflate the spread it is divided by and fall silent.
        self._cusums = [[0.0, 0.0] for _ in range(self._channels)]
        self._pending = np.empty(0, dtype=np.float64)
        self._quiet = self.reference_size  # the pause a relearn would take: "still drifting" once per pause
        for spread, calm in zip(self._spreads, self._calm):
            if calm is not None:
                spread.n, spread.mean, spread.m2 = calm

    def _standardise(self, values: np.ndarray) -> np.ndarray:
        if self.transform == "cdf":
            return (self._ref.mid_cdf(values) - 0.5) * _SQRT12
        return (values - self._mean) / self._sd

    def _block_scores(self, z: np.ndarray) -> list[np.ndarray]:
        """Per channel, the block sums of z (or of 2|z| - sqrt(3), the standardised |2u - 1|) / sqrt(block)."""
        b = self.block
        full = len(z) // b
        rows = z[: full * b].reshape(full, b)
        columns = [rows.sum(axis=1) / math.sqrt(b)]
        if self._channels == 2:
            columns.append((2.0 * np.abs(rows) - _SQRT3).sum(axis=1) / math.sqrt(b))
        return columns

    def _monitor(self, values: np.ndarray) -> tuple[int, bool]:
        if self._quiet:
            skipped = min(self._quiet, len(values))
            self._quiet -= skipped
            return skipped, False
        held, b = len(self._pending), self.block
        seq = np.concatenate([self._pending, self._standardise(values)])
        columns = [c.tolist() for c in self._block_scores(seq)]
        full = len(columns[0])
        h, k = self._h, self._k
        watch = [(self.mode != "down", self.mode != "up"), (True, True)]
        keep = self.rearm == "keep"
        for j in range(full):
            for c, (cusum, spread) in enumerate(zip(self._cusums, self._spreads)):
                v = columns[c][j]
                # Standardise by the spread of the blocks before this one, so a jump cannot hide itself.
                s = v / math.sqrt(spread.inflation)
                up = cusum[0] = max(0.0, cusum[0] + s - k)
                down = cusum[1] = max(0.0, cusum[1] - s - k)
                spread.add(v)
                if keep and up == 0.0 and down == 0.0:
                    self._calm[c] = (spread.n, spread.mean, spread.m2)
                if (watch[c][0] and up > h) or (watch[c][1] and down > h):
                    self._statistic = max(up, down)
                    return (j + 1) * b - held, True
        self._pending = seq[full * b:]
        self._statistic = max(max(cusum) for cusum in self._cusums)
        return len(values), False
