"""A signal whose one detector is an online model: the SignalMonitor lifecycle, with the model's own state and
an alert that says what the model saw; and the detector contract the online models share."""

from __future__ import annotations

import logging
import pickle
from typing import Any

import numpy as np

from stream.config import AlertPolicy
from stream.events import DriftAlert, SignalStatus
from stream.metrics import ServiceMetrics

from .alerts import Batch, EventRef, build_alert
from .signal import SignalMonitor

log = logging.getLogger(__name__)


class ModelDetector:
    """The detector contract a ModelSignal reads, as the online models share it: `statistic` is the latest
    complete window's `_statistic` and `alarm_statistic` the latest alarm's (nan before one); each model says
    its own `threshold`, which its alarms are held to too. snapshot() pickles the whole detector, but not
    `explanations`: what the latest update_many said at its alarms."""

    _statistic: float
    _alarm_statistic: float
    explanations: dict[int, str]

    @property
    def statistic(self) -> float:
        return float(self._statistic)

    @property
    def threshold(self) -> float:
        raise NotImplementedError

    @property
    def alarm_statistic(self) -> float:
        return float(self._alarm_statistic)

    @property
    def alarm_threshold(self) -> float:
        return self.threshold

    def snapshot(self) -> bytes:
        """A pickle, written and read only by streamdrift."""
        return pickle.dumps(self, protocol=5)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "explanations": {}}


class ModelSignal(SignalMonitor):
    """`detector` follows the detector contract (update_many, statistic, threshold, alarm_statistic,
    alarm_threshold, snapshot() -> a pickle of itself), and may say what it saw at an alarm:
    `explanations[position]`, the rest of the alert's sentence after `what`, and `alarm_statistics[position]`
    when one update_many can fire more than once (else the alert carries the latest alarm_statistic)."""

    def __init__(self, model_id: str, signal: str, kind: str, name: str, detector: Any, metrics: ServiceMetrics,
                 policy: AlertPolicy, what: str):
        super().__init__(model_id, signal, kind, (), metrics, policy, what)
        self.detectors = {name: detector}
        self._first = {name: None}
        self._latest: tuple[np.ndarray, Batch] | None = None

    def observe(self, values: np.ndarray, rows: np.ndarray, batch: Batch) -> tuple[list[DriftAlert], list[SignalStatus]]:
        self._latest = (rows, batch)
        return super().observe(values, rows, batch)

    def _at(self, name: str, what: str, at: EventRef) -> Any:
        """The detector's `what` (a dict by position in the latest rows) at the event `at`, if it has one."""
        rows, batch = self._latest
        by_position = getattr(self.detectors[name], what, {})
        return next((v for p, v in by_position.items() if batch.ref(int(rows[p])).offset == at.offset), None)

    def _start_drift(self, name: str, first: EventRef | None, at: EventRef, alerts: list, statuses: list) -> None:
        det = self.detectors[name]
        why = self._at(name, "explanations", at)
        statistic = self._at(name, "alarm_statistics", at)
        alert = build_alert(model_id=self.model_id, kind=self.kind, signal=self.signal, detector=name,
                            statistic=det.alarm_statistic if statistic is None else statistic, threshold=det.alarm_threshold, first=first or at, at=at,
                            policy=self.policy, what=f"{self.what} {why or 'drifted'}",
                            scope=self.scope)
        self._state, self._since, self._cause, self._alert = "drifting", at, name, alert.alert_id
        self.metrics.drift_active.labels(*self._labels()).set(1)
        alerts.append(alert)
        statuses.append(self._status("drifting", at, alert))

    def load(self, state: dict[str, Any]) -> None:
        """The model's state, unless its configuration changed since: then it starts afresh."""
        super().load({**state, "detectors": {}})
        for name, blob in state["detectors"].items():
            if name not in self.detectors:
                continue
            restored = pickle.loads(blob)
            if _setup(restored) != _setup(self.detectors[name]):
                log.info("%s/%s: %s's configuration changed; it starts afresh", self.model_id, self.signal, name)
                continue
            self.detectors[name] = restored
            self._first[name] = state["first"].get(name)


def _setup(detector: Any) -> tuple:
    """What a model was built from: its configuration and its inputs."""
    return getattr(detector, "config", None), getattr(detector, "names", None)
