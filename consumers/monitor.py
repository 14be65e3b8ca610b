"""Per-model monitoring: numpy columns per feature in, detector firings and data-quality alerts out."""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np

import detectors
from stream.config import AlertPolicy, DetectorConfig, FeatureConfig, ModelConfig
from stream.events import DriftAlert, FeatureEvent, LabelEvent, PredictionEvent
from stream.metrics import ServiceMetrics

from .alerts import Cooldown, EventRef, build_alert

QUALITY_WINDOW = 1_000        # events per data-quality verdict: rates over fewer are noise
MAX_PENDING_PREDICTIONS = 100_000
MAX_TRACKED_VERSIONS = 16     # bounds the model_version label set of the accuracy gauge


class Batch:
    """Where each event of a polled batch came from; alerts point back at it."""

    def __init__(self, topic: str, partition: int, offsets: Sequence[int], times: Sequence[datetime]):
        self.topic = topic
        self.partition = partition
        self.offsets = offsets
        self.times = times

    def ref(self, i: int) -> EventRef:
        return EventRef(self.topic, self.partition, int(self.offsets[i]), self.times[i])


class SignalMonitor:
    """One signal of one model (a feature, the prediction, the error stream) and its detectors."""

    def __init__(self, model_id: str, signal: str, kind: str, configs: Sequence[DetectorConfig],
                 metrics: ServiceMetrics, what: str):
        self.model_id = model_id
        self.signal = signal
        self.kind = kind
        self.what = what
        self.metrics = metrics
        self.detectors = {cfg.kind: detectors.create(cfg.kind, **cfg.params) for cfg in configs}
        self._first: dict[str, EventRef | None] = dict.fromkeys(self.detectors)

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
                first, self._first[name] = self._first[name], (batch.ref(int(rows[p + 1])) if p + 1 < len(rows) else None)
                self.metrics.detections.labels(*labels).inc()
                if not cooldown.allow(self.signal, name, at.time):
                    continue
                version = versions if isinstance(versions, str) else versions[row]
                alerts.append(build_alert(
                    model_id=self.model_id, model_version=version, kind=self.kind, signal=self.signal,
                    detector=name, statistic=getattr(det, "drift_statistic", det.statistic),
                    threshold=det.threshold, first=first, at=at, policy=policy, what=self.what))
        return alerts

    def state(self) -> dict[str, Any]:
        return {"detectors": {k: d.snapshot() for k, d in self.detectors.items()},
                "first": {k: (None if r is None else (r.topic, r.partition, r.offset, r.time.isoformat()))
                          for k, r in self._first.items()}}

    def load(self, state: dict[str, Any]) -> None:
        for name, blob in state["detectors"].items():
            if name in self.detectors:
                self.detectors[name] = detectors.restore(blob)
        for name, ref in state["first"].items():
            if name in self._first:
                self._first[name] = None if ref is None else EventRef(ref[0], ref[1], ref[2], datetime.fromisoformat(ref[3]))


class QualityMonitor:
    """Missing, out-of-range and wrong-type rates of one feature, judged every QUALITY_WINDOW events."""

    def __init__(self, model_id: str, feature: FeatureConfig):
        self.model_id = model_id
        self.feature = feature
        self._seen = 0
        self._missing = 0
        self._invalid = 0

    def observe(self, n: int, missing: int, invalid: int) -> tuple[str, float] | None:
        """Count a batch; returns (problem, rate) when a full window breaks the limit."""
        self._seen += n
        self._missing += missing
        self._invalid += invalid
        if self._seen < QUALITY_WINDOW:
            return None
        missing_rate, invalid_rate = self._missing / self._seen, self._invalid / self._seen
        self._seen = self._missing = self._invalid = 0
        limit = self.feature.max_missing_rate
        if missing_rate > limit:
            return "missing", missing_rate
        if invalid_rate > limit:
            return "out_of_range_or_wrong_type", invalid_rate
        return None

    def state(self) -> tuple[int, int, int]:
        return self._seen, self._missing, self._invalid

    def load(self, state: Sequence[int]) -> None:
        self._seen, self._missing, self._invalid = state


def numeric_column(raw: list[Any], feature: FeatureConfig) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(values, rows, missing, invalid): the usable numbers of a feature and the rows they came from."""
    # Strings (and JSON true/false) in a numeric feature become NaN: counted as wrong type below.
    col = np.array([v if type(v) in (float, int) else (np.nan if v is None else np.inf) for v in raw], dtype=float)
    missing_mask = np.array([v is None for v in raw], dtype=bool)
    ok = np.isfinite(col)
    if feature.min is not None:
        ok &= col >= feature.min
    if feature.max is not None:
        ok &= col <= feature.max
    invalid = int(np.count_nonzero(~ok & ~missing_mask))
    rows = np.flatnonzero(ok)
    return col[rows], rows, int(np.count_nonzero(missing_mask)), invalid


def categorical_column(raw: list[Any]) -> tuple[np.ndarray, np.ndarray, int]:
    rows = np.array([i for i, v in enumerate(raw) if v is not None], dtype=np.int64)
    values = np.array([str(raw[i]).lower() if isinstance(raw[i], bool) else str(raw[i]) for i in rows], dtype=object)
    return values, rows, len(raw) - len(rows)


class ModelMonitor:
    """Everything streamdrift watches for one model: features, predictions, labels."""

    def __init__(self, config: ModelConfig, policy: AlertPolicy, metrics: ServiceMetrics):
        self.config = config
        self.policy = policy
        self.metrics = metrics
        mid = config.model_id
        self.cooldown = Cooldown(policy.cooldown_seconds)
        self.features = {
            f.name: SignalMonitor(mid, f.name, "data_drift", f.detector_configs, metrics,
                                  f"feature '{f.name}' of {mid} drifted")
            for f in config.features
        }
        self.quality = {f.name: QualityMonitor(mid, f) for f in config.features}
        pred = config.prediction
        self.prediction = (SignalMonitor(mid, "prediction", "prediction_drift", pred.detector_configs, metrics,
                                         f"predictions of {mid} drifted") if pred else None)
        self.errors = (SignalMonitor(mid, "error_rate", "concept_drift", pred.error_detectors, metrics,
                                     f"error rate of {mid} changed (labels vs predictions)") if pred else None)
        self._pending: OrderedDict[str, tuple[Any, str]] = OrderedDict()
        self._accuracy: dict[str, deque[int]] = {}

    # -- features -------------------------------------------------------------------------------
    def observe_features(self, events: Sequence[FeatureEvent | PredictionEvent], batch: Batch) -> list[DriftAlert]:
        alerts: list[DriftAlert] = []
        mid = self.config.model_id
        for feature in self.config.features:
            raw = [(e.features or {}).get(feature.name) for e in events]
            if feature.type == "numeric":
                values, rows, missing, invalid = numeric_column(raw, feature)
            else:
                values, rows, missing = categorical_column(raw)
                invalid = 0
            if missing:
                self.metrics.missing.labels(mid, feature.name).inc(missing)
            if invalid:
                self.metrics.out_of_range.labels(mid, feature.name).inc(invalid)
            alerts += self.features[feature.name].observe(values, rows, batch, "unversioned", self.cooldown,
                                                          self.policy)
            alerts += self._quality_alert(feature, len(raw), missing, invalid, batch)
        return alerts

    def _quality_alert(self, feature: FeatureConfig, n: int, missing: int, invalid: int,
                       batch: Batch) -> list[DriftAlert]:
        verdict = self.quality[feature.name].observe(n, missing, invalid)
        if verdict is None:
            return []
        problem, rate = verdict
        at = batch.ref(len(batch.offsets) - 1)
        if not self.cooldown.allow(feature.name, problem, at.time):
            return []
        return [build_alert(
            model_id=self.config.model_id, model_version="unversioned", kind="data_quality", signal=feature.name,
            detector=problem, statistic=rate, threshold=feature.max_missing_rate, first=batch.ref(0), at=at,
            policy=self.policy, what=f"{problem.replace('_', ' ')} rate of '{feature.name}' is {rate:.1%}")]

    # -- predictions and labels -----------------------------------------------------------------
    def observe_predictions(self, events: Sequence[PredictionEvent], batch: Batch) -> list[DriftAlert]:
        alerts = []
        inline = [e for e in events if e.features]
        if inline and self.config.features:
            alerts += self.observe_features(events, batch)
        if self.prediction is None:
            return alerts
        versions = [e.model_version for e in events]
        raw = [e.prediction for e in events]
        if self.config.prediction.type == "numeric":
            values, rows, _, _ = numeric_column(raw, FeatureConfig(name="prediction"))
        else:
            values, rows, _ = categorical_column(raw)
        alerts += self.prediction.observe(values, rows, batch, versions, self.cooldown, self.policy)
        for e in events:
            self._pending[e.event_id] = (e.prediction, e.model_version)
        while len(self._pending) > MAX_PENDING_PREDICTIONS:
            self._pending.popitem(last=False)
        return alerts

    def observe_labels(self, events: Sequence[LabelEvent], batch: Batch) -> list[DriftAlert]:
        if self.errors is None:
            return []
        mid = self.config.model_id
        rows, errors, versions = [], [], []
        for i, e in enumerate(events):
            pending = self._pending.pop(e.event_id, None)
            if pending is None:
                continue
            prediction, version = pending
            rows.append(i)
            errors.append(0.0 if _same(prediction, e.label) else 1.0)
            versions.append(version)
        self.metrics.labels_joined.labels(mid).inc(len(rows))
        if len(rows) < len(events):
            self.metrics.labels_unmatched.labels(mid).inc(len(events) - len(rows))
        for version, error in zip(versions, errors):
            key = version if version in self._accuracy or len(self._accuracy) < MAX_TRACKED_VERSIONS else "other"
            self._accuracy.setdefault(key, deque(maxlen=QUALITY_WINDOW)).append(int(error))
        for version, window in self._accuracy.items():
            self.metrics.accuracy.labels(mid, version).set(1.0 - sum(window) / len(window))
        by_row = [""] * len(events)
        for r, v in zip(rows, versions):
            by_row[r] = v
        return self.errors.observe(np.asarray(errors), np.asarray(rows, dtype=np.int64), batch, by_row,
                                   self.cooldown, self.policy)


def _same(prediction: Any, label: Any) -> bool:
    if isinstance(prediction, (int, float)) and isinstance(label, (int, float)):
        return float(prediction) == float(label)
    return str(prediction) == str(label)
