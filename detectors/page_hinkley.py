"""Page-Hinkley (two-sided CUSUM) on standardised values, so its defaults mean the same on any feature."""

from __future__ import annotations

import math

import numpy as np

from detectors._params import check_choice, check_float, check_int, numeric_reference
from detectors._streaming import NumericDetector

_SQRT12 = math.sqrt(12.0)


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
    """Page-Hinkley test of a change in mean, on values standardised against a reference.

    Each value becomes z with mean 0 and variance 1 when there is no drift: with
    ``transform="cdf"`` (default) z = sqrt(12) (F(x) - 1/2), F the reference's mid-rank CDF,
    which is bounded and distribution-free; with ``"standardize"`` z = (x - mean) / sd of the
    reference. Two cumulative sums ``g+ = max(0, g+ + z - delta)`` and ``g- = max(0, g- - z - delta)``
    alarm when one exceeds ``threshold``; by default the threshold comes from Siegmund's
    approximation for a mean of ``arl`` values between false alarms. ``delta`` is the
    allowance, in standard deviations: shifts smaller than it are ignored.

    The reference is ``reference`` if given, else the first ``reference_size`` values. After an
    alarm the sums restart and the next ``reference_size`` values become the new reference, so
    a lasting shift gives one alarm. NaN values are skipped and not counted in ``n_seen``.
    ``statistic`` is the larger cumulative sum.

    Parameters
    ----------
    delta
        Allowance in standard deviations.
    threshold
        Alarm level for the cumulative sums; default from ``arl``.
    arl
        Target mean number of values between false alarms (used when ``threshold`` is None).
    transform
        ``"cdf"`` or ``"standardize"``.
    reference_size
        Warm-up length when no ``reference`` is given, and after each alarm.
    mode
        ``"both"``, ``"up"`` or ``"down"``.

    Examples
    --------
    >>> import numpy as np
    >>> import detectors
    >>> rng = np.random.default_rng(7)
    >>> det = detectors.create("page_hinkley", reference=rng.standard_t(3, size=1000))
    >>> stream = np.concatenate([rng.standard_t(3, size=5000), rng.standard_t(3, size=3000) + 0.5])
    >>> det.update_many(stream)
    array([5189])
    """

    kind = "page_hinkley"

    def __init__(self, *, reference=None, delta: float = 0.25, threshold: float | None = None,
                 arl: float = 1e7, transform: str = "cdf", reference_size: int = 1000, mode: str = "both"):
        self.delta = check_float("page_hinkley", "delta", delta, low=0.0, high=10.0, example=0.25)
        self.arl = check_float("page_hinkley", "arl", arl, low=10.0, high=1e15, low_open=False, example=1e7)
        if threshold is not None:
            threshold = check_float("page_hinkley", "threshold", threshold, low=0.0, high=1e9, example=20.0)
        self.transform = check_choice("page_hinkley", "transform", transform, ("cdf", "standardize"), '"cdf"')
        self.reference_size = check_int("page_hinkley", "reference_size", reference_size, minimum=20, example=1000)
        self.mode = check_choice("page_hinkley", "mode", mode, ("both", "up", "down"), '"both"')
        self.reference = numeric_reference("page_hinkley", reference, minimum=20)
        self._max_reference = 100_000
        sides = 2 if mode == "both" else 1
        self._h = threshold if threshold is not None else cusum_threshold(self.delta, self.arl * sides)
        self.reset()

    def _on_reference(self) -> None:
        ref = self._ref.sorted
        self._mean = float(ref.mean())
        self._sd = float(ref.std()) or 1.0

    def _reset_monitor(self) -> None:
        self._threshold = self._h
        self._up = 0.0
        self._down = 0.0

    def _after_alarm(self) -> None:
        self._relearn_reference()

    def _monitor(self, values: np.ndarray) -> tuple[int, bool]:
        if self.transform == "cdf":
            z = (self._ref.mid_cdf(values) - 0.5) * _SQRT12
        else:
            z = (values - self._mean) / self._sd
        up, down, h, k = self._up, self._down, self._h, self.delta
        watch_up, watch_down = self.mode != "down", self.mode != "up"
        for j, v in enumerate(z.tolist()):
            up = max(0.0, up + v - k)
            down = max(0.0, down - v - k)
            if (watch_up and up > h) or (watch_down and down > h):
                self._statistic = max(up, down)
                return j + 1, True
        self._up, self._down = up, down
        self._statistic = max(up, down)
        return len(values), False
