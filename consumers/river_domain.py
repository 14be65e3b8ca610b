"""Multivariate drift: an online River classifier learns to tell reference events from current ones.

Each sampled event is scored by the classifier before it learns from it (prequential), together
with a held-out reference event; the classifier then learns the current event (label 1) and a
reference event of the other half (label 0). The pair is a "win" when the current event scores
higher. The held-out half is never learned, so with no drift the current event and its partner are
two unseen draws of the same distribution and a win is a fair coin, whatever the features look like:
wins over a window of `window_pairs` pairs are Binomial(window_pairs, 1/2), and the threshold is its
exact upper quantile at the false-alarm rate `arl` allows. Their share is the paired ROC AUC.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from stream.config import DomainClassifierConfig

from .river_signal import ModelDetector

KIND = "domain_classifier"
TOP_TERMS = 3


def wins_needed(window_pairs: int, alpha: float) -> int:
    """The least k with P(Binomial(window_pairs, 1/2) >= k) <= alpha.

    >>> wins_needed(100, 0.05)   # P(>= 59) = 0.044; P(>= 58) = 0.067
    59
    """
    from scipy.stats import binom

    return int(binom.isf(alpha, window_pairs, 0.5)) + 1


class DomainClassifier(ModelDetector):
    """A detector over feature rows (n, d): update_many(rows) -> positions where the joint distribution drifted."""

    def __init__(self, config: DomainClassifierConfig, names: list[str]):
        self.config = config
        self.names = list(names)
        self.terms = list(names)
        self._pairs_of: list[tuple[int, int]] = []
        if config.pairwise:
            for i in range(len(names)):
                for j in range(i, len(names)):
                    self._pairs_of.append((i, j))
                    self.terms.append(f"{names[i]}^2" if i == j else f"{names[i]}*{names[j]}")
        events_per_window = config.window_pairs / config.sample_rate
        self.alpha = events_per_window / config.arl
        self.needed = wins_needed(config.window_pairs, self.alpha)
        self._rng = np.random.default_rng(config.seed)
        self._statistic = math.nan               # paired AUC of the latest complete window (nan before one)
        self._alarm_statistic = math.nan
        self.explanations: dict[int, str] = {}   # position in the latest update_many -> top terms at the alarm
        self._restart()

    def _restart(self) -> None:
        self._collected: list[np.ndarray] = []
        self._n_collected = 0
        self._reference: np.ndarray | None = None   # raw rows, float32 (what the snapshot keeps)
        self._prepared: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._model = None
        self._wins = 0.0
        self._pairs = 0

    # -- the detector contract the signal lifecycle reads (the rest is ModelDetector's) -------------
    @property
    def threshold(self) -> float:
        return self.needed / self.config.window_pairs

    def update_many(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(self.names))
        self.explanations = {}
        draws = self._rng.random((len(rows), 4))   # one draw set per event, whatever the batching
        fired: list[int] = []
        start = 0
        while start < len(rows):
            if self._reference is None:
                start = self._collect(rows, start)
                continue
            hit = self._learn(rows, draws, start)
            if hit is None:
                break
            fired.append(hit)
            start = hit + 1
        return np.asarray(fired, dtype=np.int64)

    # -- reference --------------------------------------------------------------------------------
    def _collect(self, rows: np.ndarray, start: int) -> int:
        """Keep events (with any numeric value) as the reference; the position after the last one kept."""
        block = rows[start:]
        usable = np.flatnonzero(~np.all(np.isnan(block), axis=1))[:self.config.reference_events - self._n_collected]
        self._collected.append(block[usable].astype(np.float32))
        self._n_collected += len(usable)
        if self._n_collected < self.config.reference_events:
            return len(rows)
        self._reference = np.concatenate(self._collected)
        self._collected = []
        self._prepare()
        return start + int(usable[-1]) + 1

    def _prepare(self) -> None:
        """The reference's sorted columns (for normal scores), and its learned and held-out halves."""
        from river import linear_model, optim

        ref = self._reference.astype(np.float64)
        ordered = np.sort(np.where(np.isnan(ref), np.inf, ref), axis=0)
        counts = np.sum(~np.isnan(ref), axis=0)
        self._prepared = (ordered, counts, self._expand(ref, ordered, counts))
        if self._model is None:
            self._model = linear_model.LogisticRegression(optimizer=optim.SGD(self.config.learning_rate))

    def _expand(self, rows: np.ndarray, ordered=None, counts=None) -> np.ndarray:
        """Normal scores through the reference's empirical CDF (bounded, any distribution), missing -> 0,
        then pairwise products."""
        from scipy.special import ndtri   # here, not at import: scipy costs every start-up ~0.3 s

        if ordered is None:
            ordered, counts, _ = self._prepared
        z = np.zeros_like(rows)
        for k in range(rows.shape[1]):
            n = int(counts[k])
            if n == 0:
                continue
            col = ordered[:n, k]
            x = rows[:, k]
            rank = (np.searchsorted(col, x, "left") + np.searchsorted(col, x, "right")) / 2
            z[:, k] = np.where(np.isfinite(x), ndtri((rank + 0.5) / (n + 1)), 0.0)
        if not self._pairs_of:
            return z
        i, j = np.array(self._pairs_of).T
        return np.hstack([z, z[:, i] * z[:, j]])

    # -- learning and testing ---------------------------------------------------------------------
    def _learn(self, rows: np.ndarray, draws: np.ndarray, start: int) -> int | None:
        """Score and learn the sampled events from `start`; the position of the first alarm, if any."""
        chosen = start + np.flatnonzero(draws[start:, 0] < self.config.sample_rate)
        if len(chosen) == 0:
            return None
        ref = self._prepared[2]
        half = len(ref) // 2
        current = self._expand(rows[chosen])
        terms = self.terms
        model = self._model
        window = self.config.window_pairs
        for k, at in enumerate(chosen.tolist()):
            x = dict(zip(terms, current[k].tolist()))
            held_out = dict(zip(terms, ref[1 + 2 * int(draws[at, 2] * half)].tolist()))
            mine = model.predict_proba_one(x).get(True, 0.5)
            theirs = model.predict_proba_one(held_out).get(True, 0.5)
            self._wins += 1.0 if mine > theirs else 0.0 if mine < theirs else float(draws[at, 3] < 0.5)
            self._pairs += 1
            model.learn_one(x, True)
            model.learn_one(dict(zip(terms, ref[2 * int(draws[at, 1] * half)].tolist())), False)
            if self._pairs == window:
                self._statistic = self._wins / window
                alarm = self._wins >= self.needed
                self._wins, self._pairs = 0.0, 0
                if alarm:
                    self._alarm_statistic = self._statistic
                    self.explanations[at] = f"drifted, driven by {self.top_terms()}"
                    self._restart()   # the events after the drift become the new reference
                    return at
        return None

    def top_terms(self) -> str:
        """The inputs that tell current events from reference ones, by the size of their weight."""
        weights = self._model.weights if self._model is not None else {}
        top = sorted(weights.items(), key=lambda kv: (-abs(kv[1]), kv[0]))[:TOP_TERMS]
        return ", ".join(f"{name} ({w:+.2f})" for name, w in top)

    # -- state ------------------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        """The snapshot: the reference, the River model, the window, the seed's state."""
        # The prepared reference is recomputed from it on restore: the snapshot stays small.
        return {**super().__getstate__(), "_prepared": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self._reference is not None:
            self._prepare()
