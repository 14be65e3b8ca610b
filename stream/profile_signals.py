"""A signal's summary while a profile is built: exact counts and moments, a seeded sample, category counts.

A numeric signal keeps its count, missing, min, max, mean and std exactly, and a uniform sample of at most
`sample_size` values (Algorithm R with one uniform draw per value past the first `sample_size`, so the sample
does not depend on how the values were batched) whose evenly spaced order statistics become the quantiles.

>>> signal = NumericSignal("x", None, sample_size=2_000, seed=0)
>>> signal.add(np.array([1.0, np.nan, np.inf, 3.0])).tolist()      # positions holding text
[2]
>>> s = signal.summary()
>>> s.count, s.missing, s.wrong_type, s.quantiles, s.mean
(2, 1, 1, (1.0, 3.0), 2.0)
"""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np

from .config import FeatureConfig
from .profile import MAX_QUANTILES, CategoricalSummary, NumericSummary


class NumericSignal:
    """Exact count, missing, min, max, mean and std; a seeded uniform sample for the quantiles."""

    def __init__(self, name: str, feature: FeatureConfig | None, sample_size: int, seed: int):
        self.low = feature.min if feature is not None else None
        self.high = feature.max if feature is not None else None
        # One stream per signal, from the seed and the name, so adding a feature changes no other sample.
        self._rng = np.random.default_rng([seed, int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest())])
        self._sample = np.empty(sample_size)
        self.filled = self.count = self.missing = self.wrong_type = self.out_of_range = 0
        self.mean = self.m2 = 0.0
        self.min = self.max = None

    def add(self, column: np.ndarray) -> np.ndarray:
        """Take a batch (NaN: missing, inf: text); returns the positions holding text."""
        missing, wrong = np.isnan(column), np.isinf(column)
        usable = ~missing & ~wrong
        in_range = usable.copy()
        if self.low is not None:
            in_range &= column >= self.low
        if self.high is not None:
            in_range &= column <= self.high
        values = column[in_range]
        self.missing += int(missing.sum())
        self.wrong_type += int(wrong.sum())
        self.out_of_range += int(usable.sum()) - len(values)
        if len(values):
            seen = self.count
            self._moments(values)
            self._reservoir(values, seen)
        return np.flatnonzero(wrong)

    def _moments(self, values: np.ndarray) -> None:
        n, mean = len(values), float(values.mean())
        m2 = float(((values - mean) ** 2).sum())
        total = self.count + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.count * n / total
        self.count = total
        low, high = float(values.min()), float(values.max())
        self.min = low if self.min is None else min(self.min, low)
        self.max = high if self.max is None else max(self.max, high)

    def _reservoir(self, values: np.ndarray, seen: int) -> None:
        """`seen`: values offered before this batch."""
        size = len(self._sample)
        take = min(len(values), size - self.filled)
        if take > 0:
            self._sample[self.filled:self.filled + take] = values[:take]
            self.filled += take
        rest = values[take:]
        if not len(rest):
            return
        # Value number i (0-based) takes slot floor(u * (i + 1)) when that is < size: Algorithm R.
        index = np.arange(seen + take, seen + take + len(rest), dtype=np.float64)
        slots = (self._rng.random(len(rest)) * (index + 1)).astype(np.int64)
        hit = np.flatnonzero(slots < size)
        if len(hit):
            # A later value in the same slot replaces an earlier one, as one value at a time would.
            taken, order = np.unique(slots[hit][::-1], return_index=True)
            self._sample[taken] = values[take:][hit][::-1][order]

    def summary(self) -> NumericSummary:
        sample = np.sort(self._sample[:self.filled])
        if len(sample) > MAX_QUANTILES:   # evenly spaced order statistics, as the ks detector thins a reference
            sample = sample[np.linspace(0, len(sample) - 1, MAX_QUANTILES).round().astype(np.int64)]
        std = (self.m2 / (self.count - 1)) ** 0.5 if self.count > 1 else None
        return NumericSummary(count=self.count, missing=self.missing, wrong_type=self.wrong_type,
                              out_of_range=self.out_of_range, min=self.min, max=self.max,
                              mean=self.mean if self.count else None, std=std, sampled=self.filled,
                              quantiles=tuple(sample.tolist()))


class CategoricalSignal:
    """Exact counts per category (the builder refuses more than MAX_CATEGORIES distinct ones)."""

    def __init__(self, name: str):
        self.name = name
        self.counts: Counter[str] = Counter()
        self.count = self.missing = 0

    def add(self, raw: list) -> None:
        present = [v for v in raw if v is not None]
        self.missing += len(raw) - len(present)
        self.count += len(present)
        if any(type(v) is bool for v in present):
            present = [("true" if v else "false") if type(v) is bool else v for v in present]
        self.counts.update(map(str, present))

    def summary(self) -> CategoricalSummary:
        ordered = sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return CategoricalSummary(count=self.count, missing=self.missing, frequencies=dict(ordered))


