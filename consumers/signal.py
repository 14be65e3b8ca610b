"""One signal in one scope (a feature, the predictions of a version, a segment's error stream), its detectors,
and its lifecycle: ok -> drifting -> resolved.

A signal alerts when it starts drifting and again when it is resolved, not at every firing: with a
kept (training) reference the detectors fire about once per window while a drift lasts, and each
firing only says "still drifting". It is resolved once its detectors have been quiet for
`resolve_after_values` of its values. Every transition lands at an exact value of the signal, never
at a batch edge, so any batching of the same stream gives the same alerts with the same ids.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

import detectors
from stream.config import AlertPolicy, DetectorConfig
from stream.events import DriftAlert, SignalStatus
from stream.metrics import ServiceMetrics

from .alerts import ALL, Batch, EventRef, Scope, build_alert

log = logging.getLogger(__name__)


class SignalMonitor:
    def __init__(self, model_id: str, signal: str, kind: str, configs: Sequence[DetectorConfig],
                 metrics: ServiceMetrics, policy: AlertPolicy, what: str, scope: Scope = ALL,
                 references: dict[str, Any] | None = None):
        """`references`: per detector kind, a reference to compare with for good (a training profile's)."""
        self.model_id = model_id
        self.signal = signal
        self.kind = kind
        self.what = what
        self.scope = scope
        self.metrics = metrics
        self.policy = policy
        references = references or {}
        self.detectors = {cfg.kind: _create(cfg, references.get(cfg.kind)) for cfg in configs}
        self._first: dict[str, EventRef | None] = dict.fromkeys(self.detectors)   # start of each one's evidence
        self._values = 0                 # values seen, the lifecycle's clock
        self._state = "ok"
        self._since: EventRef | None = None
        self._last_firing = -1           # value index of the latest firing
        self._cause: str | None = None   # the detector whose firing started the drift
        self._alert: str | None = None   # id of the alert that announced the state

    @property
    def state(self) -> str:
        return self._state

    def observe(self, values: np.ndarray, rows: np.ndarray, batch: Batch) -> tuple[list[DriftAlert], list[SignalStatus]]:
        """values[j] came from batch row rows[j]; returns the alerts and status changes they caused."""
        if len(values) == 0:
            return [], []
        base = self._values
        alerts: list[DriftAlert] = []
        statuses: list[SignalStatus] = []
        if base == 0:
            statuses.append(self._status("ok", batch.ref(int(rows[0]))))
        firings: list[tuple[int, str, EventRef]] = []
        labels = self._labels()
        for name, det in self.detectors.items():
            if self._first[name] is None:
                self._first[name] = batch.ref(int(rows[0]))
            positions = det.update_many(values)
            self.metrics.detector_events.labels(*labels, name).inc(len(values))
            self.metrics.statistic.labels(*labels, name).set(det.statistic)
            self.metrics.threshold.labels(*labels, name).set(det.threshold)
            for p in positions.tolist():
                firings.append((p, name, self._first[name]))
                # The detector re-arms after a firing: its next evidence starts at the next value.
                self._first[name] = batch.ref(int(rows[p + 1])) if p + 1 < len(rows) else None
                self.metrics.detections.labels(*labels, name).inc()
        self._values += len(values)
        for p, name, first in sorted(firings, key=lambda f: (f[0], f[1])):
            self._resolve_until(base + p - 1, base, rows, batch, alerts, statuses)
            if self._state != "drifting":
                self._start_drift(name, first, batch.ref(int(rows[p])), alerts, statuses)
            self._last_firing = base + p
        self._resolve_until(self._values - 1, base, rows, batch, alerts, statuses)
        return alerts, statuses

    def _start_drift(self, name: str, first: EventRef | None, at: EventRef, alerts: list, statuses: list) -> None:
        det = self.detectors[name]
        alert = build_alert(model_id=self.model_id, kind=self.kind, signal=self.signal, detector=name,
                            statistic=det.alarm_statistic, threshold=det.alarm_threshold, first=first or at, at=at,
                            policy=self.policy, what=f"{self.what} drifted", scope=self.scope)
        self._state, self._since, self._cause, self._alert = "drifting", at, name, alert.alert_id
        self.metrics.drift_active.labels(*self._labels()).set(1)
        alerts.append(alert)
        statuses.append(self._status("drifting", at, alert))

    def _resolve_until(self, last: int, base: int, rows: np.ndarray, batch: Batch, alerts: list,
                       statuses: list) -> None:
        """Resolve a drift whose quiet period ends at or before value index `last` (in this batch)."""
        quiet_end = self._last_firing + self.policy.resolve_after_values
        if self._state != "drifting" or quiet_end > last:
            return
        at = batch.ref(int(rows[quiet_end - base]))
        det = self.detectors[self._cause]
        alert = build_alert(model_id=self.model_id, kind=self.kind, signal=self.signal, detector=self._cause,
                            statistic=det.statistic, threshold=det.threshold, first=self._since, at=at,
                            policy=self.policy, scope=self.scope, status="resolved",
                            what=f"{self.what} resolved: no firing in {self.policy.resolve_after_values} values")
        self._state, self._since, self._alert = "resolved", at, alert.alert_id
        self.metrics.drift_active.labels(*self._labels()).set(0)
        alerts.append(alert)
        statuses.append(self._status("resolved", at, alert))

    def _status(self, state: str, at: EventRef, alert: DriftAlert | None = None) -> SignalStatus:
        return SignalStatus(model_id=self.model_id, signal=self.signal, scope=self.scope.name, kind=self.kind,
                            state=state, since=at.time, detector=alert.detector if alert else None,
                            statistic=alert.statistic if alert else None,
                            threshold=alert.threshold if alert else None, alert_id=alert.alert_id if alert else None)

    def _labels(self) -> tuple[str, str, str]:
        return self.model_id, self.signal, self.scope.name

    def unseen_total(self) -> int:
        """Values of categories the reference never had, over this signal's categorical detectors."""
        return max((sum(d.unseen.values()) for d in self.detectors.values() if hasattr(d, "unseen")), default=0)

    def state_dict(self) -> dict[str, Any]:
        return {"detectors": {k: d.snapshot() for k, d in self.detectors.items()}, "first": dict(self._first),
                "lifecycle": (self._values, self._state, self._since, self._last_firing, self._cause, self._alert)}

    def load(self, state: dict[str, Any]) -> None:
        """Restore detectors that are still configured; a detector added since, or whose snapshot this
        version cannot read (an upgrade changed its state), starts fresh."""
        for name, blob in state["detectors"].items():
            if name not in self.detectors:
                continue
            try:
                self.detectors[name] = detectors.restore(blob)
            except ValueError as exc:
                log.warning("%s/%s: detector %s starts afresh: %s", self.model_id, self.signal, name, exc)
                continue
            self._first[name] = state["first"].get(name)
        self._values, self._state, self._since, self._last_firing, self._cause, self._alert = state["lifecycle"]
        if self._cause is not None and self._cause not in self.detectors:
            self._state, self._cause = "resolved", None   # the detector that saw the drift is no longer configured
        self.metrics.drift_active.labels(*self._labels()).set(1 if self._state == "drifting" else 0)


def _create(config: DetectorConfig, reference: Any) -> detectors.Detector:
    if reference is None:
        return detectors.create(config.kind, **config.params)
    # A fixed reference is kept after a firing: a lasting drift keeps firing, so it stays drifting.
    return detectors.create(config.kind, **{**config.params, "reference": reference, "rearm": "keep"})
