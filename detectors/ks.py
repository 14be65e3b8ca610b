"""Kolmogorov-Smirnov windows against a reference, calibrated for a mean run length between false alarms."""

from __future__ import annotations

import numpy as np

from detectors._ks_calibration import calibrated_threshold, effective_sizes, ks_distances
from detectors._params import check_float, check_int, numeric_reference
from detectors._reference import RunningSpread, block_scores, test_ends
from detectors._streaming import NumericDetector


def calibration_size(m: int) -> int:
    """Round a reference size down to two significant digits, so few distinct sizes need simulating.

    A smaller reference gives a larger threshold, so rounding down errs on the quiet side.
    """
    digits = max(len(str(m)) - 2, 0)
    return m // 10**digits * 10**digits


class KS(NumericDetector):
    """Sliding-window two-sample Kolmogorov-Smirnov test against a reference sample.

    Every ``stride`` values, once ``window`` values have arrived, the KS distances between the
    last ``window``, ``window / 2``, ... (``scales`` windows) values and the reference are
    compared with thresholds simulated so that, with no drift, false alarms come on average once
    every ``arl`` values, although the same values are tested again and again by overlapping
    windows of several sizes. The short windows catch large shifts early, the long one small
    shifts. No threshold goes below ``min_distance``, so a large window does not alarm on a
    trivial shift. Thresholds are multiplied by the square root of the variance inflation that
    autocorrelation causes, estimated from ``block``-value block means of the CDF values seen
    before the tested window (1 for independent values, never below 1).

    The reference is the ``reference`` sample if given, else the first ``reference_size``
    values of the stream. After an alarm the detector re-arms: the next ``reference_size``
    values become the new reference, so one shift gives one alarm. The KS distance is exact
    with ties (discrete features); the threshold is the continuous one, which is conservative
    there. NaN values are skipped and not counted in ``n_seen``. ``statistic`` and ``threshold``
    are the KS distance and the threshold of the window closest to (or furthest over) its
    threshold at the last test.

    Parameters
    ----------
    window
        Number of recent values in the longest window compared with the reference.
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
    scales
        Number of windows tested: ``window``, ``window // 2``, ... (the smallest at least 20).
    block
        Block length of the autocorrelation estimate.
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
    (0.055, 0.113)
    """

    kind = "ks"
    _PRIOR_BLOCKS = 20.0  # pseudo-blocks of independent values behind the spread estimate

    def __init__(self, *, reference=None, window: int = 1000, stride: int | None = None,
                 reference_size: int = 1000, arl: float = 1e7, min_distance: float = 0.05,
                 max_reference: int = 2000, scales: int = 2, block: int = 32, seed: int = 0):
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
        self.max_reference = check_int("ks", "max_reference", max_reference, minimum=20, example=2000)
        self.scales = check_int("ks", "scales", scales, minimum=1, example=3)
        if self.window >> (self.scales - 1) < 20:
            raise ValueError(f"ks: scales={scales!r} is invalid; the smallest window, window / 2**(scales - 1) = "
                             f"{self.window / 2 ** (self.scales - 1):g}, must be at least 20 (for example scales=1)")
        self._windows = tuple(self.window >> i for i in range(self.scales))
        self.block = check_int("ks", "block", block, minimum=1, example=32)
        self.seed = check_int("ks", "seed", seed, minimum=0, example=0)
        self.reference = numeric_reference("ks", reference, minimum=20)
        self._max_reference = self.max_reference
        self.reset()

    def _on_reference(self, values: np.ndarray) -> None:
        # A reference taken from the stream shows its autocorrelation: start the estimate with it.
        for v in block_scores(self._ref.mid_cdf(values), self.block).tolist():
            self._spread.add(v)
        self._inflation = np.array([self._spread.inflation])
        m = calibration_size(self._ref.size)
        level = calibrated_threshold(self._windows, m, self.stride, self.arl, self.seed)
        self._base_limits = level / np.sqrt(effective_sizes(self._windows, m))  # KS distance, per window
        self._threshold = max(float(self._base_limits[0]), self.min_distance)

    def _reset_monitor(self) -> None:
        self._codes = np.empty(0, dtype=np.int32)  # last codes since re-arm, at most `window`
        self._k = 0  # values monitored since re-arm
        self._pending_u = np.empty(0, dtype=np.float64)  # CDF values of the block being filled
        self._spread = RunningSpread(self._PRIOR_BLOCKS)
        self._blocks = 0  # blocks monitored since re-arm
        self._inflation = np.ones(1)  # estimate after each of the last blocks, the newest last

    def _after_alarm(self) -> None:
        self._relearn_reference()

    def _monitor(self, values: np.ndarray) -> tuple[int, bool]:
        """Feed values until the first alarm; return (values used, alarmed)."""
        w, k0, held = self.window, self._k, len(self._codes)
        new = self._ref.codes(values)
        seq = np.concatenate([self._codes, new])
        ends = test_ends(k0, held, len(values), w, self.stride)
        inflation = self._track_spread(new)
        used, alarmed = len(values), False
        if len(ends):
            # A test after value number k uses the spread of the blocks completed before its window
            # (by value k - window), so values under test cannot inflate their own threshold.
            lagged = (k0 - held + ends + 1 - w) // self.block
            rows = np.maximum(lagged - (self._blocks - len(inflation) + 1), 0)
            limits = np.maximum(np.outer(np.sqrt(inflation[rows]), self._base_limits), self.min_distance)
            dist = ks_distances(self._ref, seq, self._windows, ends, stop_above=limits)
            ratio = dist / limits[: len(dist)]
            over = np.flatnonzero((ratio > 1.0).any(axis=1))
            last = over[0] if len(over) else len(dist) - 1
            scale = int(np.argmax(ratio[last]))
            self._statistic, self._threshold = float(dist[last, scale]), float(limits[last, scale])
            if len(over):
                used, alarmed = int(ends[last]) - held + 1, True
        self._codes = seq[max(0, held + used - w): held + used]
        self._k = k0 + used
        return used, alarmed

    def _track_spread(self, new_codes: np.ndarray) -> np.ndarray:
        """Variance inflation after each of the recent blocks, the last one for ``self._blocks`` blocks."""
        u = np.concatenate([self._pending_u, self._ref.mid_cdf_at_code[new_codes]])
        scores = block_scores(u, self.block)
        out = [self._spread.add(v) for v in scores.tolist()]
        self._blocks += len(out)
        self._pending_u = u[len(scores) * self.block:]
        inflation = np.concatenate([self._inflation, out]) if out else self._inflation
        self._inflation = inflation[-(self.window // self.block + 2):]
        return inflation
