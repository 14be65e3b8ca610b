"""The batch loop shared by the numeric detectors: skip NaN, warm up a reference, monitor, re-arm."""

from __future__ import annotations

import numpy as np

from detectors._reference import ReferenceSample
from detectors.base import Detector, finite_positions

REARM_CHOICES = ("relearn", "keep")


class NumericDetector(Detector):
    """A detector of float values that may need a reference sample before it can monitor.

    Subclasses implement ``_monitor(values) -> (used, alarmed)``, which consumes values up to
    and including the first alarm (it may also stop earlier, without an alarm), and the hooks
    ``_on_reference(values, from_stream)``, ``_reset_monitor()`` and ``_after_alarm()``.
    ``update`` is ``update_many`` on one value, so the two can never disagree.
    """

    reference: np.ndarray | None
    reference_size: int
    _max_reference: int | None = None

    def _needs_reference(self) -> bool:
        return True

    def reset(self) -> None:
        self._n_seen = 0
        self._alarm_statistic = self._alarm_threshold = float("nan")
        self._statistic = 0.0
        self._threshold = float("nan")
        self._warmup: list[np.ndarray] = []
        self._n_warm = 0
        self._ref = None
        self._reset_monitor()
        if self.reference is not None and self._needs_reference():
            self._set_reference(self.reference, from_stream=False)

    def update(self, x) -> bool:
        return len(self.update_many([x])) > 0

    def update_many(self, xs) -> np.ndarray:
        positions, values = finite_positions(xs)
        self._n_seen += len(values)
        alarms = []
        i = 0
        while i < len(values):
            if self._ref is None and self._needs_reference():
                i += self._warm_up(values[i:])
                continue
            used, alarmed = self._monitor(values[i:])
            i += used
            if alarmed:
                alarms.append(positions[i - 1])
                self._record_alarm()
                self._after_alarm()
        return np.asarray(alarms, dtype=np.int64)

    def _warm_up(self, values: np.ndarray) -> int:
        take = values[: self.reference_size - self._n_warm].copy()
        self._warmup.append(take)
        self._n_warm += len(take)
        if self._n_warm == self.reference_size:
            self._set_reference(np.concatenate(self._warmup), from_stream=True)
            self._warmup, self._n_warm = [], 0
        return len(take)

    def _set_reference(self, values: np.ndarray, *, from_stream: bool) -> None:
        self._ref = ReferenceSample(values, max_size=self._max_reference)
        self._on_reference(values, from_stream)

    def _relearn_reference(self) -> None:
        """Re-arm by learning a new reference from the values that follow."""
        self._ref = None
        self._reset_monitor()

    def _on_reference(self, values: np.ndarray, from_stream: bool) -> None:
        """Hook: a reference was set from ``values``: in stream order if ``from_stream``, else as given
        (a supplied reference may be sorted or shuffled, so its order says nothing about the stream)."""

    def _reset_monitor(self) -> None:
        raise NotImplementedError

    def _monitor(self, values: np.ndarray) -> tuple[int, bool]:
        raise NotImplementedError

    def _after_alarm(self) -> None:
        raise NotImplementedError
