"""Data quality of one feature: missing, out-of-range and wrong-type rates, judged every QUALITY_WINDOW events."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

from stream.config import FeatureConfig

from .alerts import Batch, EventRef
from .columns import Column

QUALITY_WINDOW = 1_000   # events per verdict: rates over fewer are noise
PROBLEMS = ("missing", "out_of_range", "wrong_type")


class QualityMonitor:
    """Counts each problem over windows cut at exact event counts, never at batch edges, so a replay
    from any offset reaches the same verdicts at the same events."""

    def __init__(self, feature: FeatureConfig, keep_windows: int = 0):
        """`keep_windows`: how many completed windows to keep for drain() (the backtest's reports); the
        service reads none, and at ~470 bytes a window they would cost it ~30 KiB per feature."""
        self.feature = feature
        self._seen = 0
        self._counts = dict.fromkeys(PROBLEMS, 0)
        self._first: EventRef | None = None
        self._completed: deque | None = deque(maxlen=keep_windows) if keep_windows else None

    def observe(self, column: Column, batch: Batch) -> list[tuple[EventRef, EventRef, str, float]]:
        """Returns (first, last, problem, rate) for each window whose rate of a problem is over the limit."""
        masks = {"missing": column.missing, "out_of_range": column.out_of_range, "wrong_type": column.wrong_type}
        verdicts = []
        start, n = 0, len(column.missing)
        while start < n:
            if self._seen == 0:
                self._first = batch.ref(start)
            end = start + min(QUALITY_WINDOW - self._seen, n - start)
            self._seen += end - start
            for problem, mask in masks.items():
                self._counts[problem] += int(np.count_nonzero(mask[start:end]))
            if self._seen == QUALITY_WINDOW:
                verdicts += [(self._first, batch.ref(end - 1), problem, rate) for problem, rate in self._verdicts()]
                if self._completed is not None:
                    self._completed.append((batch.ref(end - 1), {p: c / self._seen for p, c in self._counts.items()}))
                self._seen = 0
                self._counts = dict.fromkeys(PROBLEMS, 0)
            start = end
        return verdicts

    def drain(self) -> list[tuple[EventRef, dict[str, float]]]:
        """The windows completed since the last call, with their rate of each problem."""
        if self._completed is None:
            return []
        done = list(self._completed)
        self._completed.clear()
        return done

    def limit(self, problem: str) -> float:
        return self.feature.max_missing_rate if problem == "missing" else self.feature.max_invalid_rate

    def _verdicts(self) -> list[tuple[str, float]]:
        rates = [(problem, count / self._seen) for problem, count in self._counts.items()]
        return [(problem, rate) for problem, rate in rates if rate > self.limit(problem)]

    def state(self) -> tuple:
        return self._seen, dict(self._counts), self._first

    def load(self, state: Sequence) -> None:
        self._seen, counts, self._first = state
        self._counts = {**dict.fromkeys(PROBLEMS, 0), **counts}
