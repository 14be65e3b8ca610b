"""One signal of one model (a feature, the prediction, the error stream) watched by its detectors."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

import detectors
from stream.config import AlertPolicy, DetectorConfig
from stream.events import DriftAlert
from stream.metrics import ServiceMetrics

from .alerts import Batch, Cooldown, EventRef, build_alert

log = logging.getLogger(__name__)


class SignalMonitor:
    def __init__(self, model_id: str, signal: str, kind: str, configs: Sequence[DetectorConfig],
                 metrics: ServiceMetrics, what: str):
        self.model_id = model_id
        self.signal = signal
        self.kind = kind
        self.what = what
        self.metrics = metrics
        self.detectors = {cfg.kind: detectors.create(cfg.kind, **cfg.params) for cfg in configs}
        self._first: dict[str, EventRef | None] = dict.fromkeys(self.detectors)   # start of each one's evidence

    def observe(self, values: np.ndarray, rows: np.ndarray, batch: Batch, versions: Sequence[str] | str,
                cooldown: Cooldown, policy: AlertPolicy) -> list[DriftAlert]:
        """values[j] came from batch row rows[j]; returns the alerts the cooldown lets through."""
        if len(values) == 0:
            return []
        alerts = []
        for name, det in self.detectors.items():
            labels = (self.model_id, self.signal, name)
            if self._first[name] is None:
                self._first[name] = batch.ref(int(rows[0]))
            positions = det.update_many(values)
            self.metrics.detector_events.labels(*labels).inc(len(values))
            self.metrics.statistic.labels(*labels).set(det.statistic)
            self.metrics.threshold.labels(*labels).set(det.threshold)
            for p in positions:
                row = int(rows[p])
                at = batch.ref(row)
                # The detector re-arms after a firing: its next evidence starts at the next value.
                first = self._first[name]
                self._first[name] = batch.ref(int(rows[p + 1])) if p + 1 < len(rows) else None
                self.metrics.detections.labels(*labels).inc()
                if not cooldown.allow(self.signal, name, at.time):
                    continue
                version = versions if isinstance(versions, str) else versions[row]
                alerts.append(build_alert(
                    model_id=self.model_id, model_version=version, kind=self.kind, signal=self.signal,
                    detector=name, statistic=det.alarm_statistic, threshold=det.alarm_threshold,
                    first=first, at=at, policy=policy, what=self.what))
        return alerts

    def unseen_total(self) -> int:
        """Values of categories the reference never had, over this signal's categorical detectors."""
        return max((sum(d.unseen.values()) for d in self.detectors.values() if hasattr(d, "unseen")), default=0)

    def state(self) -> dict[str, Any]:
        return {"detectors": {k: d.snapshot() for k, d in self.detectors.items()}, "first": dict(self._first)}

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
