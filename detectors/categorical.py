"""Drift of category frequencies against a reference, and categories the reference never had."""

from __future__ import annotations

import math
import numbers
from collections import Counter
from collections.abc import Mapping
from statistics import NormalDist

import numpy as np

from detectors._params import check_choice, check_float, check_int
from detectors._reference import tested_ends, window_counts
from detectors._streaming import REARM_CHOICES
from detectors.base import Detector


def chi2_survival(x: float, df: int) -> float:
    """P(chi-square with df degrees of freedom > x), from the closed forms for integer df."""
    if x <= 0:
        return 1.0
    half = x / 2.0
    if df % 2 == 0:
        term, total = 1.0, 1.0
        for i in range(1, df // 2):
            term *= half / i
            total += term
        return math.exp(-half) * total
    total, term = 0.0, math.sqrt(2.0 * x / math.pi)
    for i in range(df // 2):
        if i:
            term *= x / (2 * i + 1)
        total += term
    return math.erfc(math.sqrt(half)) + math.exp(-half) * total


def chi2_quantile(df: int, upper_tail: float) -> float:
    """The x with P(chi-square(df) > x) = upper_tail, by bisection on the exact survival function."""
    z = NormalDist().inv_cdf(1.0 - upper_tail)
    a = 2.0 / (9.0 * df)
    guess = max(df * (1.0 - a + z * math.sqrt(a)) ** 3, 1e-9)  # Wilson-Hilferty, to bracket
    lo, hi = guess / 2.0, guess * 2.0
    while chi2_survival(hi, df) > upper_tail:
        hi *= 2.0
    while chi2_survival(lo, df) < upper_tail:
        lo /= 2.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if chi2_survival(mid, df) > upper_tail else (lo, mid)
    return hi


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and x != x)


def _frequency_table(table: Mapping) -> dict:
    """Check a reference given as {category: count}: whole counts, as a training profile stores them."""
    counts = {}
    for category, count in table.items():
        whole = isinstance(count, numbers.Integral) and not isinstance(count, bool)
        if not whole and isinstance(count, numbers.Real) and math.isfinite(count) and float(count).is_integer():
            whole, count = True, int(count)
        if not whole or count < 0:
            raise ValueError(f"categorical: reference[{category!r}]={count!r} is invalid; a frequency table must "
                             f"map each category to a whole number of occurrences, not a proportion (for "
                             f"example reference={{'a': 600, 'b': 400}})")
        if count and not _missing(category):
            counts[category] = int(count)
    if sum(counts.values()) < 20:
        raise ValueError(f"categorical: reference counts {sum(counts.values())} values; reference must hold at "
                         f"least 20 (pass the counts of a larger sample, or reference=None to warm up)")
    return counts


class Categorical(Detector):
    """Chi-square test of the category frequencies in a sliding window against a reference.

    Every ``stride`` values, once ``window`` values have arrived, the window's category counts
    are compared with the reference's by the chi-square test of homogeneity. Reference
    categories too rare to expect ``min_expected`` occurrences in a window are pooled with
    categories the reference never had into one "other" bucket. The test level is
    ``stride / arl`` (a Bonferroni bound over the tests in ``arl`` values, conservative because
    windows overlap), and a window alarms only if the total variation distance between the two
    frequency tables is at least ``min_distance`` as well.

    The reference is ``reference`` if given, either a sample (a sequence of categories) or a
    frequency table ``{category: count}`` (whole counts, as a training profile stores them;
    the chi-square test treats them as a sample of their total), else the first
    ``reference_size`` values. After an alarm, with ``rearm="relearn"`` the next
    ``reference_size`` values become the new reference (one lasting change, one alarm); with
    ``rearm="keep"`` the reference stays and the window starts afresh, so a lasting change
    alarms again about once per ``window`` values until the frequencies return. ``unseen``
    maps each category absent from the reference in use to how often it
    was seen since creation or ``reset()`` (at most ``max_unseen`` categories are recorded).
    None and NaN are skipped and not counted in ``n_seen``. ``statistic`` is the chi-square
    value of the last test, ``threshold`` its critical value, ``distance`` the TV distance.

    Parameters
    ----------
    window
        Number of recent values compared with the reference.
    stride
        Test every ``stride`` values (must divide ``window``). Default ``window // 10``.
    reference_size
        Warm-up length when no ``reference`` is given, and after each alarm.
    arl
        Target mean number of values between false alarms with no drift.
    min_distance
        Smallest total variation distance that may alarm (effect-size floor).
    min_expected
        Reference categories expected fewer times than this in a window are pooled.
    max_unseen
        Most unseen categories recorded in ``unseen``.
    rearm
        ``"relearn"`` or ``"keep"``: what happens to the reference after an alarm.

    Examples
    --------
    >>> import numpy as np
    >>> import detectors
    >>> rng = np.random.default_rng(7)
    >>> colours = np.array(["red", "green", "blue"], dtype=object)
    >>> det = detectors.create("categorical", reference=rng.choice(colours, 2000, p=[0.5, 0.3, 0.2]))
    >>> before = rng.choice(colours, 4000, p=[0.5, 0.3, 0.2])
    >>> after = rng.choice(np.append(colours, "mauve"), 3000, p=[0.35, 0.3, 0.2, 0.15])
    >>> det.update_many(np.concatenate([before, after]))
    array([4199])
    >>> det.unseen
    {'mauve': 35}

    A kept frequency table says "still drifting" once per window until the mix returns:

    >>> det = detectors.create("categorical", reference={"red": 500, "green": 300, "blue": 200}, rearm="keep")
    >>> det.update_many(np.concatenate([after, before])).tolist()
    [999, 1999, 2999]
    """

    kind = "categorical"

    def __init__(self, *, reference=None, window: int = 1000, stride: int | None = None,
                 reference_size: int = 1000, arl: float = 1e7, min_distance: float = 0.05,
                 min_expected: float = 5.0, max_unseen: int = 1000, rearm: str = "relearn"):
        self.window = check_int("categorical", "window", window, minimum=20, example=1000)
        self.stride = check_int("categorical", "stride", self.window // 10 if stride is None else stride,
                                minimum=1, example=self.window // 10)
        if self.window % self.stride:
            raise ValueError(f"categorical: stride={self.stride} is invalid; stride must divide "
                             f"window={self.window} (for example stride={self.window // 10})")
        self.reference_size = check_int("categorical", "reference_size", reference_size, minimum=20, example=1000)
        self.arl = check_float("categorical", "arl", arl, low=100.0, high=1e12, low_open=False,
                               high_open=False, example=1e7)
        self.min_distance = check_float("categorical", "min_distance", min_distance, low=0.0, high=1.0,
                                        low_open=False, example=0.05)
        self.min_expected = check_float("categorical", "min_expected", min_expected, low=0.0, high=1e6,
                                        example=5.0)
        self.max_unseen = check_int("categorical", "max_unseen", max_unseen, minimum=0, example=1000)
        self.rearm = check_choice("categorical", "rearm", rearm, REARM_CHOICES, '"keep"')
        self.reference = self._check_reference(reference)
        self.reset()

    @staticmethod
    def _check_reference(reference):
        """A tuple of the non-missing values, or a dict {category: count} of the positive counts."""
        if reference is None:
            return None
        if isinstance(reference, Mapping):
            return _frequency_table(reference)
        if isinstance(reference, (str, bytes)) or not hasattr(reference, "__iter__"):
            raise ValueError(f"categorical: reference={reference!r:.60} is invalid; reference must be a "
                             f"sequence of category strings (for example reference=['a', 'b', 'a']) or a "
                             f"frequency table (for example reference={{'a': 600, 'b': 400}})")
        values = [x for x in reference if not _missing(x)]
        if len(values) < 20:
            raise ValueError(f"categorical: reference has {len(values)} non-missing values; reference must "
                             f"hold at least 20 (pass a larger sample, or reference=None to warm up)")
        return tuple(values)

    @property
    def unseen(self) -> dict:
        """Categories absent from the reference, with their counts since creation or reset()."""
        return dict(self._unseen)

    @property
    def distance(self) -> float:
        """Total variation distance between the last tested window and the reference."""
        return float(self._distance)

    def reset(self) -> None:
        self._n_seen = 0
        self._alarm_statistic = self._alarm_threshold = float("nan")
        self._statistic = 0.0
        self._distance = 0.0
        self._threshold = float("nan")
        self._unseen: dict = {}
        self._warmup: list = []
        self._buckets: dict | None = None
        self._rearm_window()
        if self.reference is not None:
            self._set_reference(self.reference)

    def _rearm_window(self) -> None:
        self._codes = np.empty(0, dtype=np.int64)
        self._k = 0

    def _set_reference(self, values) -> None:
        counts = dict(values) if isinstance(values, dict) else Counter(values)
        m = sum(counts.values())
        kept = sorted((c for c, k in counts.items() if k * self.window / m >= self.min_expected), key=str)
        other = len(kept)
        self._known = frozenset(counts)
        self._buckets = {c: (kept.index(c) if c in kept else other) for c in counts}
        ref_counts = np.zeros(other + 1, dtype=np.float64)
        for c, k in counts.items():
            ref_counts[self._buckets[c]] += k
        self._ref_counts = ref_counts
        self._ref_size = m
        self._threshold = chi2_quantile(max(other, 1), self.stride / self.arl)

    def update(self, x) -> bool:
        return len(self.update_many([x])) > 0

    def update_many(self, xs) -> np.ndarray:
        items = xs.tolist() if isinstance(xs, np.ndarray) else list(xs)
        positions = [i for i, x in enumerate(items) if not _missing(x)]
        values = [items[i] for i in positions]
        self._n_seen += len(values)
        alarms = []
        i = 0
        while i < len(values):
            if self._buckets is None:
                take = values[i: i + self.reference_size - len(self._warmup)]
                self._warmup.extend(take)
                i += len(take)
                if len(self._warmup) == self.reference_size:
                    self._set_reference(self._warmup)
                    self._warmup = []
                continue
            used, alarmed = self._monitor(values[i:])
            i += used
            if alarmed:
                alarms.append(positions[i - 1])
                self._record_alarm()
                if self.rearm == "relearn":
                    self._buckets = None  # learn a new reference from what follows
                self._rearm_window()
        return np.asarray(alarms, dtype=np.int64)

    def _encode(self, values: list) -> np.ndarray:
        other = len(self._ref_counts) - 1
        buckets = self._buckets
        return np.fromiter((buckets.get(x, other) for x in values), dtype=np.int64, count=len(values))

    def _monitor(self, values: list) -> tuple[int, bool]:
        w, k0, held = self.window, self._k, len(self._codes)
        new = self._encode(values)
        seq = np.concatenate([self._codes, new])
        ends = tested_ends(k0, held, len(values), w, self.stride)
        used, alarmed = len(values), False
        if len(ends):
            chi2, tv = self._test(window_counts(seq, len(self._ref_counts), w, ends))
            over = np.flatnonzero((chi2 > self._threshold) & (tv >= self.min_distance))
            last = over[0] if len(over) else len(ends) - 1
            self._statistic, self._distance = float(chi2[last]), float(tv[last])
            if len(over):
                used, alarmed = int(ends[last]) - held + 1, True
        if (new[:used] == len(self._ref_counts) - 1).any():
            self._count_unseen(values[:used])
        self._codes = seq[max(0, held + used - w): held + used]
        self._k = k0 + used
        return used, alarmed

    def _count_unseen(self, values: list) -> None:
        known, unseen = self._known, self._unseen
        for x in values:
            if x not in known and (x in unseen or len(unseen) < self.max_unseen):
                unseen[x] = unseen.get(x, 0) + 1

    def _test(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n, m, ref = self.window, self._ref_size, self._ref_counts
        pooled = (counts + ref) / (n + m)
        safe = np.where(pooled > 0, pooled, 1.0)
        chi2 = (((counts - n * pooled) ** 2) / (n * safe) + ((ref - m * pooled) ** 2) / (m * safe)).sum(axis=1)
        tv = 0.5 * np.abs(counts / n - ref / m).sum(axis=1)
        return chi2, tv
