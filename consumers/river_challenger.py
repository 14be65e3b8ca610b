"""A live challenger: a River classifier learning prequentially from joined features and labels, whose error
over a window is set beside production's on the same labelled events.

Each labelled prediction of the champion whose features were kept is first predicted by the
challenger, then learned. When production errs more than the challenger by `margin` over a window of
`window_labels` such events, a model trained on recent data would now do better: evidence of concept
drift, and a retraining signal.
"""

from __future__ import annotations

import math
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from stream.config import ChallengerConfig, FeatureConfig
from stream.values import category

from .label_join import Joined, same
from .river_signal import ModelDetector

KIND = "challenger"
FOREST_TREES = 5
MEMORY_CHECK_EVERY = 1_000   # labels between River's size checks (its default, a million, would not bound a snapshot)


def chosen(event_id: str, rate: float) -> bool:
    """The same events are chosen on every replay: by a hash of their id, not by the order they came in.

    >>> [chosen(str(i), 0.5) for i in range(6)]
    [False, False, True, True, False, False]
    """
    return rate >= 1.0 or zlib.crc32(event_id.encode()) < rate * 2 ** 32


class Challenger(ModelDetector):
    """A detector over (production correct, challenger correct) rows: fires when production errs more by `margin`.
    Its snapshot holds the River model, the pending features, the window."""

    def __init__(self, config: ChallengerConfig, features: Sequence[FeatureConfig]):
        self.config = config
        self.names = [f.name for f in features]
        self._numeric = {f.name for f in features if f.type == "numeric"}
        self._model = self._new_model()
        self._pending: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._labels = self._production_errors = self._challenger_errors = 0   # the open window
        self.error_rates = (math.nan, math.nan)   # (production, challenger) over the latest complete window
        self._statistic = math.nan   # production's error rate minus the challenger's, over the latest complete window
        self._alarm_statistic = math.nan
        self.explanations: dict[int, str] = {}

    def _new_model(self):
        from river import forest, tree

        if self.config.model == "adaptive_random_forest":
            # The cap is the forest's: shared among its trees (background trees come on top while one is replaced).
            return forest.ARFClassifier(n_models=FOREST_TREES, max_size=self.config.max_size_mb / FOREST_TREES,
                                        memory_estimate_period=MEMORY_CHECK_EVERY, seed=self.config.seed)
        return tree.HoeffdingAdaptiveTreeClassifier(max_size=self.config.max_size_mb, seed=self.config.seed,
                                                    memory_estimate_period=MEMORY_CHECK_EVERY)

    # -- features wait for their labels -----------------------------------------------------------
    def remember(self, events: Sequence[Any]) -> None:
        rate, pending = self.config.sample_rate, self._pending
        for e in events:
            if e.features and chosen(e.event_id, rate):
                pending[e.event_id] = self._row(e.features)
                pending.move_to_end(e.event_id)
        while len(pending) > self.config.max_pending:
            pending.popitem(last=False)

    def _row(self, features: dict[str, Any]) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for name in self.names:
            value = features.get(name)
            if value is None:
                continue   # River's trees take a missing key as missing
            if name not in self._numeric:
                row[name] = category(value)
            elif isinstance(value, (int, float)) and math.isfinite(value):
                row[name] = float(value)
        return row

    def join(self, joined: Sequence[Joined], champion: str | None) -> tuple[np.ndarray, np.ndarray]:
        """Prequential: predict each labelled champion event whose features were kept, then learn it.
        Returns rows of (production correct, challenger correct) and the batch rows they came from."""
        outcomes, rows = [], []
        for j in joined:
            if j.version != champion:
                continue
            x = self._pending.pop(j.event_id, None)
            if x is None:
                continue
            label = category(j.label)
            guess = self._model.predict_one(x)
            outcomes.append((same(j.prediction, j.label), guess is not None and category(guess) == label))
            rows.append(j.row)
            self._model.learn_one(x, label)
        return np.asarray(outcomes, dtype=bool).reshape(-1, 2), np.asarray(rows, dtype=np.int64)

    # -- the detector contract the signal lifecycle reads (the rest is ModelDetector's) -------------
    @property
    def threshold(self) -> float:
        return self.config.margin

    def update_many(self, outcomes: np.ndarray) -> np.ndarray:
        self.explanations = {}
        fired = []
        window = self.config.window_labels
        for p, (production, challenger) in enumerate(np.asarray(outcomes, dtype=bool).reshape(-1, 2).tolist()):
            self._labels += 1
            self._production_errors += not production
            self._challenger_errors += not challenger
            if self._labels < window:
                continue
            self.error_rates = (self._production_errors / window, self._challenger_errors / window)
            self._statistic = self.error_rates[0] - self.error_rates[1]
            self._labels = self._production_errors = self._challenger_errors = 0
            if self._statistic >= self.config.margin:
                self._alarm_statistic = self._statistic
                fired.append(p)
                self.explanations[p] = (
                    f"errs more than a live challenger ({self.config.model}): {self.error_rates[0]:.1%} vs "
                    f"{self.error_rates[1]:.1%} over the last {window} labels; evidence of concept drift, "
                    "a model trained on recent data would do better")
        return np.asarray(fired, dtype=np.int64)
