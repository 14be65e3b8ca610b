"""Kolmogorov-Smirnov windows against a reference, calibrated for a mean run length between false alarms."""

from __future__ import annotations

import numpy as np

from detectors._ks_calibration import calibrated_threshold, ks_distances
from detectors._params import check_float, check_int, numeric_reference
from detectors._reference import test_ends
from detectors._streaming import NumericDetector


class KS(NumericDetector):
    """Sliding-window two-sample Kolmogorov-Smirnov test against a reference sample.

    Every ``stride`` values, once ``window`` values have arrived, the KS distance between the
    last ``window`` values and the reference is compared with a threshold simulated so that,
    with no drift, false alarms come on average once every ``arl`` values, although the same
    values are tested again and again by overlapping windows. The threshold never goes below
    ``min_distance``, so a large window does not alarm on a trivial shift.

    The reference is the ``reference`` sample if given, else the first ``reference_size``
    values of the stream. After an alarm the detector re-arms: the next ``reference_size``
    values become the new reference, so one shift gives one alarm. The KS distance is exact
    with ties (discrete features); the threshold is the continuous one, which is conservative
    there. NaN values are skipped and not counted in ``n_seen``.

    Parameters
    ----------
    window
        Number of recent values compared with the reference.
    stride
        Test every ``stride`` values (must divide ``window``); an alarm is reported at the
        value whose test crossed the threshold. Default ``window // 20``.
    reference_size
        Warm-up length when no ``reference`` is given, and after each alarm.
    arl
        Target mean number of values between false alarms with no drift.
    min_distance
        Smallest KS distance that may alarm (effect-size floor).
    max_reference
        A larger reference is thinned to this many evenly spaced order statistics.
    seed
        Seed of the calibration simulation.

    Examples
    --------
    >>> import numpy as np
    >>> import detectors
    >>> rng = np.random.default_rng(7)
    >>> det = detectors.create("ks", reference=rng.normal(size=1000))
    >>> stream = np.concatenate([rng.normal(size=5000), rng.normal(0.5, 1.0, size=3000)])
    >>> det.update_many(stream)
    array([5199])
    >>> round(det.statistic, 3), round(det.threshold, 3)
    (0.055, 0.11)
    """

    kind = "ks"

    def __init__(self, *, reference=None, window: int = 1000, stride: int | None = None,
                 reference_size: int = 1000, arl: float = 1e7, min_distance: float = 0.05,
                 max_reference: int = 5000, seed: int = 0):
        self.window = check_int("ks", "window", window, minimum=20, example=1000)
        self.stride = check_int("ks", "stride", self.window // 20 if stride is None else stride,
                                minimum=1, example=self.window // 20)
        if self.window % self.stride:
            raise ValueError(f"ks: stride={self.stride} is invalid; stride must divide window={self.window} "
                             f"(for example stride={self.window // 20})")
        self.reference_size = check_int("ks", "reference_size", reference_size, minimum=20, example=1000)
        self.arl = check_float("ks", "arl", arl, low=100.0, high=1e12, low_open=False, high_open=False, example=1e7)
        self.min_distance = check_float("ks", "min_distance", min_distance, low=0.0, high=1.0,
                                        low_open=False, example=0.05)
        self.max_reference = check_int("ks", "max_reference", max_reference, minimum=20, example=5000)
        self.seed = check_int("ks", "seed", seed, minimum=0, example=0)
        self.reference = numeric_reference("ks", reference, minimum=20)
        self._max_reference = self.max_reference
        self.reset()

    def _on_reference(self) -> None:
        simulated = calibrated_threshold(self.window, self._ref.size, self.stride, self.arl, self.seed)
        self._threshold = max(simulated, self.min_distance)

    def _reset_monitor(self) -> None:
        self._codes = np.empty(0, dtype=np.int32)  # last codes since re-arm, at most `window`
        self._k = 0  # values monitored since re-arm

    def _after_alarm(self) -> None:
        self._relearn_reference()

    def _monitor(self, values: np.ndarray) -> tuple[int, bool]:
        """Feed values until the first alarm; return (values used, alarmed)."""
        w, k0, held = self.window, self._k, len(self._codes)
        seq = np.concatenate([self._codes, self._ref.codes(values)])
        ends = test_ends(k0, held, len(values), w, self.stride)
        used, alarmed = len(values), False
        if len(ends):
            dist = ks_distances(self._ref, seq, w, ends, stop_above=self._threshold)
            over = np.flatnonzero(dist > self._threshold)
            if len(over):
                used, alarmed = int(ends[over[0]]) - held + 1, True
                self._statistic = float(dist[over[0]])
            else:
                self._statistic = float(dist[-1])
        self._codes = seq[max(0, held + used - w): held + used]
        self._k = k0 + used
        return used, alarmed
