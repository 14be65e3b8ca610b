"""Kolmogorov-Smirnov and rank-score windows against a reference, calibrated for a run length between false alarms."""

from __future__ import annotations

import math

import numpy as np

from detectors._calibration_store import stored_level
from detectors._ks_calibration import Setting, simulate_level
from detectors._ks_windows import GridReference, WindowGeometry, limits_at, stride_rows
from detectors._params import check_choice, check_float, check_int, numeric_reference
from detectors._reference import EarlyInflation, LongRunVariance, thin
from detectors._streaming import REARM_CHOICES, NumericDetector

GRID = 128  # reference points where the distances are evaluated (all of them when there are fewer)
_MAX_ROWS = 256  # strides handled per step: bounds the memory a very large batch needs


def calibration_size(m: int) -> int:
    """Round a reference size down to two significant digits, so few distinct sizes need simulating.

    A smaller reference gives a larger threshold, so rounding down errs on the quiet side.
    """
    digits = max(len(str(m)) - 2, 0)
    return m // 10**digits * 10**digits


def default_stride(window: int) -> int:
    """The largest divisor of ``window`` up to ``window / 40`` (25 for 1000): about 40 tests per window."""
    return max(d for d in range(1, max(window // 40, 1) + 1) if window % d == 0)


def window_sizes(window: int, stride: int, scales: int) -> tuple[int, ...]:
    """``window``, then about ``window / 2``, ``window / 4``, ... rounded to whole strides."""
    return tuple([window] + [stride * max(1, round(window / 2**i / stride)) for i in range(1, scales)])


def calibrated_level(sizes: tuple[int, ...], stride: int, reference_size: int, arl: float, seed: int) -> float:
    """The simulated surprise level of this configuration (shipped table, disk cache, or simulation)."""
    setting = Setting(tuple(sizes), stride, calibration_size(reference_size), float(arl), seed, GRID)
    return stored_level(setting.key, lambda: simulate_level(setting))


class KS(NumericDetector):
    """Sliding windows of several sizes compared with a reference sample by three rank distances.

    Every ``stride`` values, once ``window`` values have arrived, each of the last ``window``,
    ``window / 2``, ... (``scales`` sizes, in whole strides) values is compared with the
    reference by three distances between its CDF and the reference CDF, all in CDF units:

    - the Kolmogorov-Smirnov distance (largest gap): any change of shape;
    - the shift, |mean u - 1/2| with u the reference CDF value of each value (a rank-sum
      test): a change of centre, seen with fewer values than the KS distance needs;
    - the spread shift, |mean |2u - 1| - its reference mean|: a change of spread that leaves
      the median in place, which the KS distance is slow to see.

    The thresholds are simulated jointly, so that with no drift false alarms come once every
    ``arl`` values on average although the same values are tested again and again by
    overlapping windows, sizes and distances. Short windows catch large changes early, long
    ones small changes. No threshold goes below ``min_distance``. Thresholds are multiplied by
    the square root of the variance inflation that autocorrelation causes, estimated from
    ``block``-value block means of u once they have left the longest window (so the values
    under test cannot raise their own bar; 1 for independent values, never below 1). That
    estimate is ready once a window's worth of blocks is known: at once after a warm-up from the
    stream, about ``2 * window`` values after a supplied ``reference`` is first used. Until then
    tests use a cautious inflation from every block so far, those under test included (where a
    drift can only raise it): the largest of 1.5, their block estimate, and the inflation of an
    AR(1) process with the lag-1 autocorrelation of the values so far raised by two standard
    errors; it needs 8 blocks. And with a supplied reference, until its first alarm, the shorter
    windows are tested as soon as they are full: a stream drifted by 0.5 sd or more from its first
    value alarms within a few hundred values (at the 275th, the first test, when the drift is
    clear), while small drifts wait for the estimate.

    The reference is the ``reference`` sample if given (thinned to ``max_reference`` evenly
    spaced order statistics; the calibration treats it as a random sample of that size, which
    errs on the quiet side for quantiles of a larger set), else the first ``reference_size``
    values. Distances are evaluated at up to 128 reference points: exact (ties and discrete
    values included) when the reference has at most 128 distinct values, within about 1/128
    of the exact KS distance otherwise. A reference learned from the stream grows: values
    join it once they have left the longest window without an alarm, as many as it holds at a
    time, while it can double within ``max_reference``. After an alarm, with
    ``rearm="relearn"`` the next ``reference_size`` values become the new reference, so one
    lasting shift gives one alarm; with ``rearm="keep"`` the reference stays and the windows
    start afresh, so a lasting shift alarms again about once per ``window`` values and a return
    to the reference stops the alarms. NaN values are skipped and not counted in ``n_seen``. ``statistic`` and
    ``threshold`` are the distance and threshold of the window and distance closest to (or
    furthest over) its threshold at the last test.

    Parameters
    ----------
    window
        Number of recent values in the longest window compared with the reference.
    stride
        Test every ``stride`` values (must divide ``window``); an alarm is reported at the
        value whose test crossed the threshold. Default: the largest divisor of ``window`` up
        to ``window / 40`` (25 for 1000).
    reference_size
        Warm-up length when no ``reference`` is given, and after each alarm with ``rearm="relearn"``.
    arl
        Target mean number of values between false alarms with no drift.
    min_distance
        Smallest distance that may alarm (effect-size floor).
    max_reference
        A larger reference is thinned to this many evenly spaced order statistics; a
        reference learned from the stream grows up to it.
    scales
        Number of window sizes tested.
    block
        Block length of the autocorrelation estimate.
    seed
        Seed of the calibration simulation.
    rearm
        ``"relearn"`` or ``"keep"``: what happens to the reference after an alarm.

    Examples
    --------
    >>> import numpy as np
    >>> import detectors
    >>> rng = np.random.default_rng(7)
    >>> det = detectors.create("ks", reference=rng.normal(size=1000))
    >>> stream = np.concatenate([rng.normal(size=5000), rng.normal(0.5, 1.0, size=3000)])
    >>> det.update_many(stream)
    array([5124])
    >>> round(det.alarm_statistic, 3), round(det.alarm_threshold, 3)
    (0.201, 0.167)

    A training profile kept as the reference: 2,000 quantiles of a large sample, a spread change
    that leaves the median in place, "still drifting" once per window, quiet once it is over:

    >>> rng = np.random.default_rng(7)
    >>> profile = np.quantile(rng.lognormal(size=100_000), np.linspace(0, 1, 2000))
    >>> kept = detectors.create("ks", reference=profile, rearm="keep")
    >>> wider = rng.lognormal(0.0, 1.5, size=3000)
    >>> kept.update_many(np.concatenate([rng.lognormal(size=3000), wider, rng.lognormal(size=3000)]))
    array([3249, 4249, 5249, 6249])
    >>> kept.statistic < kept.threshold
    True

    A model started on traffic already drifted from its profile (by 0.5 sd of log x) alarms at
    its 275th value, the first test:

    >>> started = detectors.create("ks", reference=profile, rearm="keep")
    >>> started.update_many(rng.lognormal(0.5, 1.0, size=1000))
    array([274])
    """

    kind = "ks"
    _PRIOR_BLOCKS = 2.0  # pseudo-blocks of independent values behind the autocorrelation estimate
    _EARLY_FLOOR = 1.5  # least variance inflation tested with before the estimate is ready
    _EARLY_BLOCKS = 8  # blocks needed before then (256 values by default): a variance from fewer is a guess

    def __init__(self, *, reference=None, window: int = 1000, stride: int | None = None,
                 reference_size: int = 1000, arl: float = 1e7, min_distance: float = 0.05,
                 max_reference: int = 10_000, scales: int = 4, block: int = 32, seed: int = 0,
                 rearm: str = "relearn"):
        self.window = check_int("ks", "window", window, minimum=20, example=1000)
        self.stride = check_int("ks", "stride", default_stride(self.window) if stride is None else stride,
                                minimum=1, example=default_stride(self.window))
        if self.window % self.stride:
            raise ValueError(f"ks: stride={self.stride} is invalid; stride must divide window={self.window} "
                             f"(for example stride={default_stride(self.window)})")
        self.reference_size = check_int("ks", "reference_size", reference_size, minimum=20, example=1000)
        self.arl = check_float("ks", "arl", arl, low=100.0, high=1e12, low_open=False, high_open=False, example=1e7)
        self.min_distance = check_float("ks", "min_distance", min_distance, low=0.0, high=1.0,
                                        low_open=False, example=0.05)
        self.max_reference = check_int("ks", "max_reference", max_reference, minimum=20, example=10_000)
        self.scales = check_int("ks", "scales", scales, minimum=1, example=4)
        sizes = window_sizes(self.window, self.stride, self.scales)
        if sizes[-1] < 20 or any(a <= b for a, b in zip(sizes, sizes[1:])):
            raise ValueError(f"ks: scales={scales!r} is invalid; windows {', '.join(map(str, sizes))} must shrink "
                             f"by whole strides of {self.stride} and stay at least 20 long (for example scales=1, "
                             f"or a smaller stride)")
        self._sizes = sizes
        self._spans = np.asarray(sizes) // self.stride
        self.block = check_int("ks", "block", block, minimum=1, example=32)
        # Blocks per span of the autocorrelation estimate (about a window), and the least it tests on:
        # an estimate from fewer blocks than a window holds is too often low.
        self._span = max(self.window // self.block, 8)
        self.seed = check_int("ks", "seed", seed, minimum=0, example=0)
        self.rearm = check_choice("ks", "rearm", rearm, REARM_CHOICES, '"keep"')
        self.reference = numeric_reference("ks", reference, minimum=20)
        self.reset()

    # -- reference and calibration ----------------------------------------------------------------
    def _level(self, size: int) -> float:
        return calibrated_level(self._sizes, self.stride, min(size, self.max_reference), self.arl, self.seed)

    def _prepare(self) -> None:
        if self.reference is not None:
            self._level(len(self.reference))
        if self.reference is None or self.rearm == "relearn":
            size = self.reference_size
            while True:  # and each size a warmed-up reference grows to
                self._level(size)
                if 2 * calibration_size(size) > self.max_reference:
                    break
                size *= 2

    def _set_reference(self, values: np.ndarray, *, from_stream: bool) -> None:
        self._ref = GridReference(thin(values, self.max_reference), GRID)
        self._configure()
        self._threshold = max(float(self._limits[0, 0]), self.min_distance)  # until the first test
        if from_stream:  # a warm-up shows the stream's autocorrelation: start the estimate with it
            codes = self._ref.codes(values)
            self._noise.add_many(self._block_scores(self._ref.rank2[codes[: len(codes) // self.block * self.block]]))
        self._growing = from_stream and self.rearm == "relearn" and self._may_grow()
        # A supplied reference may meet a stream drifted from its first value: test the shorter
        # windows as soon as they are full, until the first alarm.
        self._opening = not from_stream

    def _may_grow(self) -> bool:
        return 2 * calibration_size(self._ref.size) <= self.max_reference

    def _configure(self) -> None:
        """Thresholds and lookups for the reference as it is now."""
        ref = self._ref
        self._geometry = WindowGeometry(ref, self._sizes)
        size = calibration_size(min(ref.size, self.max_reference))
        self._limits = limits_at(self._level(ref.size), self._sizes, size)

    def _block_scores(self, ranks: np.ndarray) -> list[float]:
        """Standardised block means of u - 1/2 (mean 0, variance 1 for independent values) from ranks 2m (u - 1/2)."""
        sums = ranks.reshape(-1, self.block).sum(axis=1)
        return (sums * (math.sqrt(3.0 / self.block) / self._ref.size)).tolist()

    # -- state ------------------------------------------------------------------------------------
    def _reset_monitor(self) -> None:
        self._noise = LongRunVariance(self._PRIOR_BLOCKS, self._span)
        self._growing = False
        self._restart_windows()

    def _restart_windows(self) -> None:
        self._k = 0  # values monitored since the windows (re)started
        self._codes = np.empty(0, dtype=np.int64)  # codes since the oldest kept row
        self._rows = self._shift = self._spread = None  # rebuilt from _codes when needed
        self._merged = 0  # values since the restart added to the reference
        self._pool = None  # counts per code of values that left the windows, not yet merged
        self._pending: list[float] = []  # scores of complete blocks not yet in the estimate
        self._committed = 0  # blocks since the restart added to the estimate
        self._block_part = np.empty(0, dtype=np.int64)  # codes of the block being filled
        # Blocks since the restart, kept while the estimate is not ready, for a cautious one meanwhile
        # (None: not all of them are known, after restoring a snapshot from an older release).
        self._early: EarlyInflation | None = self._new_early()
        self._opening = False  # test windows shorter than `window` before it is full (see _set_reference)

    def _new_early(self) -> EarlyInflation:
        return EarlyInflation(self.block, self._span, self._EARLY_FLOOR, self._EARLY_BLOCKS)

    def _after_alarm(self) -> None:
        if self.rearm == "keep":
            self._restart_windows()  # the blocks of the alarmed windows never enter the estimate
        else:
            self._relearn_reference()

    def __getstate__(self) -> dict:
        state = dict(vars(self))
        for derived in ("_rows", "_shift", "_spread", "_geometry"):
            state.pop(derived, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if "_early" not in state:  # a snapshot from before early tests: it waits for the estimate, as it would have
            self._early, self._opening = None, False
        self._rows = self._shift = self._spread = None
        if self._ref is not None:
            self._geometry = WindowGeometry(self._ref, self._sizes)

    def _ensure_rows(self) -> None:
        """Rows from the kept codes (after a restore, a restart or a growth); only their differences matter."""
        if self._rows is not None:
            return
        ref, s = self._ref, self.stride
        zero = (np.zeros(ref.n_codes, dtype=np.int64), 0, 0)
        full = len(self._codes) // s * s
        rows, shift, spread = stride_rows(ref, self._codes[:full], s, zero)
        self._rows = np.vstack([zero[0], rows])
        self._shift = np.concatenate([[0], shift]).astype(np.int64)
        self._spread = np.concatenate([[0], spread]).astype(np.int64)

    # -- monitoring -------------------------------------------------------------------------------
    def _monitor(self, values: np.ndarray) -> tuple[int, bool]:
        """Feed values until the first alarm, a growth of the reference or a bounded number of strides."""
        s, w = self.stride, self.window
        held = self._k % s  # codes since the last row (rows fall on multiples of stride since the restart)
        if held + len(values) < s:  # no new row, so no test: only keep the codes (the path of most single values)
            new = self._ref.codes(values)
            self._add_blocks(new)
            self._codes = np.concatenate([self._codes, new])
            self._k += len(new)
            return len(values), False
        self._ensure_rows()
        n_rows = len(self._rows)
        k_first = self._k - held + s  # values monitored at the first new row
        growth = self._growth_row(k_first)
        last_row = _MAX_ROWS - 1 if growth is None else min(growth, _MAX_ROWS - 1)
        values = values[: (last_row + 1) * s - held]
        new = self._ref.codes(values)
        seq = np.concatenate([self._codes[len(self._codes) - held:], new])
        rows, shift, spread = stride_rows(self._ref, seq, s, (self._rows[-1], self._shift[-1], self._spread[-1]))
        self._add_blocks(new)
        rows = np.concatenate([self._rows, rows])
        shift, spread = np.concatenate([self._shift, shift]), np.concatenate([self._spread, spread])
        start = self._sizes[-1] if self._opening else w  # rows before the shortest (longest) window is full
        first_test = max(0, -((k_first - start) // s))  # are not tests
        if n_rows + first_test < len(rows):
            dist = self._distances(rows, shift, spread, n_rows + first_test, len(rows) - n_rows - first_test,
                                   k_first + s * first_test)
            hit = self._judge(dist, k_first + s * first_test)
            if hit is not None:
                return (first_test + hit + 1) * s - held, True
        self._append(rows, shift, spread, new)
        if growth is not None and len(rows) - n_rows == growth + 1:
            self._grow()
        return len(values), False

    def _growth_row(self, k_first: int) -> int | None:
        """Index among the coming rows of the one where a warmed-up reference doubles, if it may grow.

        Values join it once they have left the longest window without an alarm, ``size`` at a
        time (so it doubles), while the calibration size can still double within ``max_reference``.
        """
        if not self._growing:
            return None
        k = self._ref.size + self.window + self._merged  # values seen when enough have left the windows
        return max(0, -((k_first - k) // self.stride))

    def _grow(self) -> None:
        left = self._k - self.window  # values that have left the longest window
        self._ref.grow(self._pool)
        self._merged, self._pool = left, None
        self._configure()
        self._growing = self._may_grow()
        self._rows = None  # rows embed the reference's counts: rebuild them from the kept codes

    def _distances(self, rows: np.ndarray, shift: np.ndarray, spread: np.ndarray, first: int, count: int,
                   k0: int) -> np.ndarray:
        """Distances of the tests at rows ``first``, ... (values k0, k0 + stride, ...); 0 for windows not yet full."""
        if k0 >= self.window:
            return self._geometry.distances(rows, shift, spread, first, count, self._spans)
        pad = int(self._spans[0])  # rows before the restart: only windows that do not fit reach them
        rows = np.vstack([np.zeros((pad, rows.shape[1]), dtype=rows.dtype), rows])
        shift, spread = (np.concatenate([np.zeros(pad, dtype=a.dtype), a]) for a in (shift, spread))
        dist = self._geometry.distances(rows, shift, spread, first + pad, count, self._spans)
        k = k0 + self.stride * np.arange(count)
        dist[k[:, None] < np.asarray(self._sizes)[None, :]] = 0.0
        return dist

    def _judge(self, dist: np.ndarray, k0: int) -> int | None:
        """Index of the first test that alarms (tests at k0, k0 + stride, ...), else None; sets statistic."""
        floor = self.min_distance
        base = np.maximum(self._limits, floor)
        candidates = np.flatnonzero((dist > base).any(axis=(1, 2))).tolist()  # inflation only raises limits
        for t in candidates:
            inflation = self._inflation(k0 + t * self.stride)
            if inflation is not None and self._report(dist[t], inflation):
                return t
        last = len(dist) - 1
        inflation = self._inflation(k0 + last * self.stride)
        if inflation is not None:
            self._report(dist[last], inflation)
        return None

    def _inflation(self, k: int) -> float | None:
        """The variance inflation to test value k with (None: not enough blocks yet to test).

        The estimate from blocks that left the longest window once it is ready; until then a
        cautious one from all blocks since the restart, those under test included (see EarlyInflation).
        """
        due = (k - self.window) // self.block - self._committed
        if due > 0:
            self._noise.add_many(self._pending[:due])
            del self._pending[:due]
            self._committed += due
        if self._noise.n >= self._span:
            if self._early:
                self._early = self._new_early()  # no longer needed
            return self._noise.inflation
        return None if self._early is None else self._early.at(k // self.block)

    def _report(self, dist: np.ndarray, inflation: float) -> bool:
        limits = np.maximum(self._limits * math.sqrt(inflation), self.min_distance)
        ratio = dist / limits
        w, c = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
        self._statistic, self._threshold = float(dist[w, c]), float(limits[w, c])
        return bool(ratio[w, c] > 1.0)

    def _add_blocks(self, codes: np.ndarray) -> None:
        part = np.concatenate([self._block_part, codes])
        full = len(part) // self.block * self.block
        if full:
            ranks = self._ref.rank2[part[:full]]  # rank2 = 2m (u - 1/2)
            scores = self._block_scores(ranks)
            self._pending.extend(scores)
            if self._early is not None and self._noise.n < self._span:
                self._early.add(scores, ranks, self._ref.size)
        self._block_part = part[full:].copy()  # not a view: that would keep all of `part` alive

    def _append(self, rows: np.ndarray, shift: np.ndarray, spread: np.ndarray, new: np.ndarray) -> None:
        keep = int(self._spans[0]) + 1
        # Copies, not views: a view keeps the whole concatenation alive, this batch's rows included
        # (up to _MAX_ROWS more rows of n_codes int64 per detector, held until its next batch).
        self._rows, self._shift, self._spread = rows[-keep:].copy(), shift[-keep:].copy(), spread[-keep:].copy()
        self._k += len(new)
        since_row = self._k % self.stride
        codes = np.concatenate([self._codes, new])
        cut = len(codes) - ((len(self._rows) - 1) * self.stride + since_row)
        if self._growing and cut > 0:  # these values left the longest window without an alarm
            counts = np.bincount(codes[:cut], minlength=self._ref.n_codes)
            self._pool = counts if self._pool is None else self._pool + counts
        self._codes = codes[cut:].copy()
