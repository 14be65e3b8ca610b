"""ADWIN (River's Rust implementation) on the reference CDF value of x, for any feature distribution."""

from __future__ import annotations

import math

import numpy as np
from river._river_rust.drift import AdaptiveWindowing

from detectors._params import check_choice, check_float, check_int, numeric_reference
from detectors._streaming import NumericDetector


class ADWIN(NumericDetector):
    """Adaptive windowing: alarms when the means of an old and a recent part of the window differ.

    ADWIN's bound assumes bounded values, so with ``transform="cdf"`` (the default) it does not
    see x but u = F(x), the mid-rank CDF value of x in the reference sample: bounded in [0, 1]
    and uniform-like with no drift, whatever the feature's distribution (heavy tails, skew,
    ties). With ``spread=True`` a second ADWIN watches |2u - 1|, which moves when the spread
    changes but the centre does not; ``delta`` is split between the two. The reference is
    ``reference`` if given, else the first ``reference_size`` values. ``transform="none"``
    runs River's ADWIN on x itself.

    After an alarm both windows restart (River's behaviour); the reference is kept, since ADWIN
    compares the stream with its own past. NaN values are skipped and not counted in ``n_seen``.
    ``statistic`` is the difference of means at the last detected cut and ``threshold`` ADWIN's
    bound for that cut (both 0.0/nan before any alarm).

    Parameters
    ----------
    delta
        Confidence of ADWIN's bound; smaller means fewer false alarms and later detection.
    clock
        Check for a cut every ``clock`` values.
    transform
        ``"cdf"`` (feed the reference CDF value) or ``"none"`` (feed x).
    spread
        Also watch the spread (only with ``transform="cdf"``).
    reference_size
        Warm-up length when no ``reference`` is given.
    max_buckets, min_window_length, grace_period
        Passed to River's ADWIN.

    Examples
    --------
    >>> import numpy as np
    >>> import detectors
    >>> rng = np.random.default_rng(7)
    >>> det = detectors.create("adwin", reference=rng.lognormal(size=1000))
    >>> stream = np.concatenate([rng.lognormal(size=5000), rng.lognormal(0.5, 1.0, size=3000)])
    >>> det.update_many(stream)
    array([5311])
    """

    kind = "adwin"

    def __init__(self, *, reference=None, delta: float = 1e-5, clock: int = 32, transform: str = "cdf",
                 spread: bool = True, reference_size: int = 1000, max_buckets: int = 5,
                 min_window_length: int = 5, grace_period: int = 10):
        self.delta = check_float("adwin", "delta", delta, low=0.0, high=1.0, example=1e-5)
        self.clock = check_int("adwin", "clock", clock, minimum=1, example=32)
        self.transform = check_choice("adwin", "transform", transform, ("cdf", "none"), '"cdf"')
        self.spread = check_choice("adwin", "spread", spread, (True, False), "True")
        self.reference_size = check_int("adwin", "reference_size", reference_size, minimum=20, example=1000)
        self.max_buckets = check_int("adwin", "max_buckets", max_buckets, minimum=2, example=5)
        self.min_window_length = check_int("adwin", "min_window_length", min_window_length, minimum=1, example=5)
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
            AdaptiveWindowing(delta=delta, clock=self.clock, max_buckets=self.max_buckets,
                              min_window_length=self.min_window_length, grace_period=self.grace_period)
            for _ in range(n)
        ]
        self._sums = [[0, 0.0, 0.0] for _ in range(n)]  # count, sum, sum of squares since restart

    def _after_alarm(self) -> None:
        self._reset_monitor()

    def _monitor(self, values: np.ndarray) -> tuple[int, bool]:
        if self.transform == "cdf":
            u = self._ref.mid_cdf(values)
            channels = [u, np.abs(2.0 * u - 1.0)][: len(self._windows)]
        else:
            channels = [values]
        columns = [c.tolist() for c in channels]
        sums, windows = self._sums, self._windows
        # Running sums are kept value by value so they never depend on how the stream was batched.
        for j in range(len(values)):
            for c, window in enumerate(windows):
                v = columns[c][j]
                s = sums[c]
                s[0] += 1
                s[1] += v
                s[2] += v * v
                if window.update(v):
                    self._record_cut(c)
                    return j + 1, True
        return len(values), False

    def _record_cut(self, c: int) -> None:
        """Difference of means at the cut just made, and ADWIN's bound for it."""
        count, total, squares = self._sums[c]
        window = self._windows[c]
        n1, t1 = window.get_width(), window.get_total()
        n0 = count - n1
        if n0 <= 0 or n1 <= 0:
            return
        self._statistic = abs((total - t1) / n0 - t1 / n1)
        variance = max(squares / count - (total / count) ** 2, 0.0)
        d = math.log(2.0 * math.log(count) / (self.delta / len(self._windows)))
        m = 1.0 / max(n0 - self.min_window_length + 1, 1) + 1.0 / max(n1 - self.min_window_length + 1, 1)
        self._threshold = math.sqrt(2.0 * m * variance * d) + 2.0 / 3.0 * d * m
