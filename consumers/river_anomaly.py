"""Anomalies: River's HalfSpaceTrees, behind min-max scaling, scores a sample of the events, and an exact binomial
test watches how many score above the reference's quantile.

A seeded draw per event picks `sample_rate` of the events with a numeric feature. The first `warm_up` picked
events set River's MinMaxScaler and are the trees' mass; then the scaler and the trees are frozen. Frozen,
they are one fixed scoring function, so on a stable stream the events' scores are independent draws of one
distribution (a learning HalfSpaceTrees' scores are not: they follow its windows, and it learns a burst of
outliers as normal). The next `reference` scores set the cut, their `quantile`. Whatever the scores'
distribution, the share of later events scoring above the cut is Beta(m + 1, n - m) when m of the n reference
scores were above it (ties only lower it), so its upper quantile at REFERENCE_CONFIDENCE bounds the stable
rate p. An event scoring above the cut is an anomaly; over each window of `window` scored events the
anomalies are at most Binomial(window, p) on a stable stream, and the threshold is its exact upper quantile
at the false-alarm rate `arl` allows (as the domain classifier's). The alarm names the window's
highest-scored events.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from stream.config import AnomalyConfig

from .river_signal import ModelDetector

KIND = "half_space_trees"
REFERENCE_CONFIDENCE = 0.999   # the stable rate is above its bound in 1 stream of 1,000


def stable_rate_bound(above: int, scored: int) -> float:
    """An upper bound of the share of later events scoring above the cut, when `above` of `scored` did.

    >>> round(stable_rate_bound(40, 4000), 4)
    0.0159
    """
    from scipy.stats import beta

    return float(beta.ppf(REFERENCE_CONFIDENCE, above + 1, scored - above))


def anomalies_needed(window: int, rate: float, alpha: float) -> int:
    """The least k with P(Binomial(window, rate) >= k) <= alpha.

    >>> anomalies_needed(1000, 0.0159, 1e-4)   # P(>= 34) = 4.5e-5; P(>= 33) = 1.0e-4
    34
    """
    from scipy.stats import binom

    return int(binom.isf(alpha, window, rate)) + 1


class AnomalyScore(ModelDetector):
    """A detector over feature rows (n, d) whose event ids were `named`: update_many(rows) -> positions where the
    window's anomalies exceeded the stable rate."""

    def __init__(self, config: AnomalyConfig, names: list[str]):
        from river import anomaly, preprocessing

        self.config = config
        self.names = list(names)
        self.alpha = config.window / config.sample_rate / config.arl
        self._scaler = preprocessing.MinMaxScaler()
        self._trees = anomaly.HalfSpaceTrees(n_trees=config.trees, height=config.height,
                                             window_size=config.warm_up, seed=config.seed)
        self._rng = np.random.default_rng(config.seed)
        self._warm: list[np.ndarray] = []          # picked rows until warm_up (float32)
        self._low = self._span = self._fill = None  # the frozen scaling, and each feature's scaled median
        self._reference: list[float] | None = []   # scores until `reference`, then None
        self.cut = math.nan
        self.stable_rate = math.nan
        self.needed = 0
        self._scored = 0                           # of the open window
        self._above = 0
        # (score, place in the window, event id): the open window's highest; of equal scores (they saturate
        # in regions the warm-up never saw), the latest.
        self._top: list[tuple[float, int, str]] = []
        self._alarmed_top: list[tuple[float, int, str]] = []
        self.rate = math.nan                       # share of anomalies in the latest complete window
        self._statistic = math.nan                 # the same (nan before one)
        self._alarm_statistic = math.nan
        self._ids: Sequence[str] = ()
        self.explanations: dict[int, str] = {}      # position in the latest update_many -> the alarm's sentence
        self.alarm_statistics: dict[int, float] = {}

    def named(self, event_ids: Sequence[str]) -> None:
        """The event ids of the rows the next update_many gets (an alarm names the most anomalous)."""
        self._ids = event_ids

    # -- the detector contract the signal lifecycle reads (the rest is ModelDetector's) -------------
    @property
    def threshold(self) -> float:
        return self.needed / self.config.window if self.needed else math.nan

    def update_many(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(self.names))
        self.explanations, self.alarm_statistics = {}, {}
        draws = self._rng.random(len(rows))   # one draw per event, whatever the batching
        picked = np.flatnonzero((draws < self.config.sample_rate) & ~np.all(np.isnan(rows), axis=1))
        fired: list[int] = []
        k = 0
        while k < len(picked) and self._low is None:
            self._warm.append(rows[picked[k]].astype(np.float32))
            k += 1
            if len(self._warm) == self.config.warm_up:
                self._learn_normal()
        if k == len(picked):
            return np.asarray(fired, dtype=np.int64)
        scaled = self._scale(rows[picked[k:]])
        score, names, ids = self._trees.score_one, self.names, self._ids
        for at, z in zip(picked[k:].tolist(), scaled.tolist()):
            s = score(dict(zip(names, z)))
            if self._reference is not None:
                self._collect(s)
            elif self._test(s, ids[at]):
                fired.append(at)
                self.explanations[at] = self._explain()
                self.alarm_statistics[at] = self._alarm_statistic
        return np.asarray(fired, dtype=np.int64)

    # -- warm-up and reference --------------------------------------------------------------------
    def _learn_normal(self) -> None:
        """Scaling from the warm-up rows, then the trees' mass; both frozen from here on."""
        warm = np.vstack(self._warm).astype(np.float64)
        self._warm = []
        for row in warm.tolist():
            self._scaler.learn_one({n: v for n, v in zip(self.names, row) if not math.isnan(v)})
        low = np.array([self._scaler.min[n].get() if n in self._scaler.min else 0.0 for n in self.names])
        high = np.array([self._scaler.max[n].get() if n in self._scaler.max else 0.0 for n in self.names])
        self._low, self._span = low, np.where(high > low, high - low, 1.0)
        # A missing value is put at the feature's median: missingness is a quality signal, not an anomaly.
        z = (warm - low) / self._span
        self._fill = np.array([np.median(c[~np.isnan(c)]) if np.any(~np.isnan(c)) else 0.0 for c in z.T])
        for z in self._scale(warm).tolist():
            self._trees.learn_one(dict(zip(self.names, z)))

    def _scale(self, rows: np.ndarray) -> np.ndarray:
        z = (rows - self._low) / self._span
        return np.where(np.isnan(z), self._fill, z)

    def _collect(self, s: float) -> None:
        self._reference.append(s)
        n = len(self._reference)
        if n < self.config.reference:
            return
        scores = np.asarray(self._reference)
        self._reference = None
        self.cut = float(np.quantile(scores, self.config.quantile))
        self.stable_rate = stable_rate_bound(int(np.count_nonzero(scores > self.cut)), n)
        self.needed = anomalies_needed(self.config.window, self.stable_rate, self.alpha)

    # -- testing ----------------------------------------------------------------------------------
    def _test(self, s: float, event_id: str) -> bool:
        """Counts one scored event; at a window's end, whether it held too many anomalies."""
        self._scored += 1
        self._above += s > self.cut
        entry = (s, self._scored, event_id)
        if len(self._top) < self.config.top_ids:
            heapq.heappush(self._top, entry)
        elif entry > self._top[0]:
            heapq.heapreplace(self._top, entry)
        if self._scored < self.config.window:
            return False
        self.rate = self._statistic = self._above / self._scored
        alarm = self._above >= self.needed
        if alarm:
            self._alarm_statistic = self._statistic
            self._alarmed_top = sorted(self._top, reverse=True)
        self._scored = self._above = 0
        self._top = []
        return alarm

    def _explain(self) -> str:
        listed = ", ".join(f"{event_id} ({s:.3f})" for s, _, event_id in self._alarmed_top)
        return (f"rose: {self._alarm_statistic:.1%} of the last {self.config.window} scored events above the "
                f"reference's {self.config.quantile:g} quantile (stable: at most {self.stable_rate:.1%}); "
                f"most anomalous: {listed}")

    # -- state ------------------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        """The snapshot: the scaler, the trees, the reference or the open window, the seeded generator's state;
        not what the latest update_many saw."""
        return {**super().__getstate__(), "alarm_statistics": {}, "_ids": (), "_alarmed_top": []}
