"""ADWIN (River's Rust implementation) on the reference CDF value of x, for any feature distribution."""

from __future__ import annotations

import math

import numpy as np
from detectors._river_compat import adaptive_windowing
from detectors._params import check_choice, check_float, check_int, numeric_reference
from detectors._streaming import NumericDetector

_GAIN = 100.0
_HISTORY = 1024  # blocks kept to describe a detected cut


class ADWIN(NumericDetector):
    """Adaptive windowing: alarms when the means of an old and a recent part of the window differ.

    Two changes to plain ADWIN make its false-alarm rate independent of the feature:

    - with ``transform="cdf"`` (default) it sees u = F(x), the mid-rank CDF value of x in the
      reference sample: bounded in [0, 1] and uniform-like with no drift, whatever the feature's
      distribution (heavy tails, skew, ties);
    - it sees the means of consecutive blocks of ``block`` values, not single values. Block means
      are nearly independent even when the values are autocorrelated, so ADWIN's variance
      estimate, made on block means, includes the autocorrelation. They are rescaled so that
      ADWIN's range term, which assumes values in [0, 1], does not dominate its bound.

    With ``spread=True`` a second ADWIN watches |2u - 1|, which moves when the spread changes
    but the centre does not; ``delta`` is split between the two. The reference is ``reference``
    if given, else the first ``reference_size`` values. ``transform="none"`` uses x itself.

    After an alarm both ADWINs restart (River's behaviour); the reference is kept, since ADWIN
    compares the stream with its own past. An alarm is reported at the last value of the block
    that completed the evidence. NaN values are skipped and not counted in ``n_seen``.
    ``statistic`` is the difference of means (in units of u) at the last detected cut and
    ``threshold`` ADWIN's bound for that cut (0.0 and nan before any alarm).

    Parameters
    ----------
    delta
        Confidence of ADWIN's bound; smaller means fewer false alarms and later detection.
    block
        Values per block mean.
    clock
        Check for a cut every ``clock`` blocks.
    transform
        ``"cdf"`` (feed the reference CDF value) or ``"none"`` (feed x).
    spread
        Also watch the spread (only with ``transform="cdf"``).
    reference_size
        Warm-up length when no ``reference`` is given.
    max_buckets, min_window_length, grace_period
        Passed to River's ADWIN; the last two are counted in blocks.

    Examples
    --------
    >>> import numpy as np
    >>> import detectors
    >>> rng = np.random.default_rng(7)
    >>> det = detectors.create("adwin", reference=rng.lognormal(size=1000))
    >>> stream = np.concatenate([rng.lognormal(size=5000), rng.lognormal(0.5, 1.0, size=3000)])
    >>> det.update_many(stream)
    array([5151])
    """

    kind = "adwin"
    _no_rearm = ("adwin compares the stream with its own recent past, not with a reference (its reference only "
                 "maps values to [0, 1] and is always kept), and restarts its windows after an alarm")

    def __init__(self, *, reference=None, delta: float = 1e-4, block: int = 32, clock: int = 1, transform: str = "cdf",
                 spread: bool = True, reference_size: int = 1000, max_buckets: int = 5,
                 min_window_length: int = 2, grace_period: int = 10):
        self.delta = check_float("adwin", "delta", delta, low=0.0, high=1.0, example=1e-4)
        self.block = check_int("adwin", "block", block, minimum=1, example=32)
        self.clock = check_int("adwin", "clock", clock, minimum=1, example=1)
        self.transform = check_choice("adwin", "transform", transform, ("cdf", "none"), '"cdf"')
        self.spread = check_choice("adwin", "spread", spread, (True, False), "True")
        self.reference_size = check_int("adwin", "reference_size", reference_size, minimum=20, example=1000)
        self.max_buckets = check_int("adwin", "max_buckets", max_buckets, minimum=2, example=5)
        self.min_window_length = check_int("adwin", "min_window_length", min_window_length, minimum=1, example=2)
        self.grace_period = check_int("adwin", "grace_period", grace_period, minimum=1, example=10)
        self.reference = numeric_reference("adwin", reference, minimum=20)
        self._max_reference = 100_000
        self.reset()

    def _needs_reference(self) -> bool:
        return self.transform == "cdf"

    def _reset_monitor(self) -> None:
        n = 2 if (self.spread and self.transform == "cdf") else 1
        delta = self.delta / n
        self._windows = [
            adaptive_windowing(delta=delta, clock=self.clock, max_buckets=self.max_buckets,
                               min_window_length=self.min_window_length, grace_period=self.grace_period)
            for _ in range(n)
        ]
        self._recent = [np.empty(0) for _ in range(n)]  # last block values fed, to describe a cut
        self._pending = np.empty(0, dtype=np.float64)  # values of the block being filled

    def _after_alarm(self) -> None:
        self._reset_monitor()

    def _monitor(self, values: np.ndarray) -> tuple[int, bool]:
        x = self._ref.mid_cdf(values) if self.transform == "cdf" else values
        held = len(self._pending)
        seq = np.concatenate([self._pending, x])
        b = self.block
        full = len(seq) // b
        rows = seq[: full * b].reshape(full, b)
        # Block means times sqrt(block) keep the spread of single values, so ADWIN's range term
        # (which assumes values in [0, 1]) does not swamp the variance term.
        scale = math.sqrt(b) * _GAIN
        channels = [rows.sum(axis=1) / b * scale]
        if len(self._windows) == 2:
            channels.append(np.abs(2.0 * rows - 1.0).sum(axis=1) / b * scale)
        columns = [c.tolist() for c in channels]
        windows = self._windows
        for j in range(full):
            for c, window in enumerate(windows):
                if window.update(columns[c][j]):
                    self._describe_cut(np.concatenate([self._recent[c], channels[c][: j + 1]]), scale)
                    return (j + 1) * b - held, True
        self._recent = [np.concatenate([r, c])[-_HISTORY:] for r, c in zip(self._recent, channels)]
        self._pending = seq[full * b:]
        return len(values), False

    def _describe_cut(self, fed: np.ndarray, scale: float) -> None:
        """Report the cut ADWIN's test passes by the widest margin on the recent blocks.

        River does not expose the cut it found, so it is recomputed here with ADWIN's bound:
        ``statistic`` is the difference of means either side (in units of u), ``threshold`` the bound.
        """
        fed = fed[-_HISTORY:]
        n = len(fed)
        mwl = self.min_window_length
        if n < 2 * mwl or n < 2:
            return
        cum = np.cumsum(fed)
        n0 = np.arange(mwl, n - mwl + 1)
        n0 = n0[(n0 > 0) & (n0 < n)]
        n1 = n - n0
        diff = np.abs(cum[n0 - 1] / n0 - (cum[-1] - cum[n0 - 1]) / n1)
        d = math.log(2.0 * math.log(n) / (self.delta / len(self._windows))) if n > 1 else 1.0
        m = 1.0 / np.maximum(n0 - mwl + 1, 1) + 1.0 / np.maximum(n1 - mwl + 1, 1)
        bound = np.sqrt(2.0 * m * fed.var() * d) + 2.0 / 3.0 * d * m
        best = int(np.argmax(diff - bound))
        self._statistic = float(diff[best] / scale)
        self._threshold = float(bound[best] / scale)
