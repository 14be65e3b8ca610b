"""Everything streamdrift watches for one model: its features, its predictions, and its labels joined to them."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from stream.config import AlertPolicy, FeatureConfig, ModelConfig
from stream.events import DriftAlert, FeatureEvent, LabelEvent, PredictionEvent
from stream.metrics import ServiceMetrics

from .alerts import Batch, Cooldown, build_alert
from .columns import Column, categorical_column, numeric_column, numeric_matrix
from .label_join import Joined, LabelJoin
from .quality import QUALITY_WINDOW, QualityMonitor
from .signal import SignalMonitor

MAX_TRACKED_VERSIONS = 16     # bounds the model_version label set of the accuracy gauge
UNVERSIONED = "unversioned"
_PREDICTION = FeatureConfig(name="prediction")


class ModelMonitor:
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
        self.quality = {f.name: QualityMonitor(f) for f in config.features}
        self._numeric = [f.name for f in config.features if f.type == "numeric"]
        pred = config.prediction
        self.prediction = (SignalMonitor(mid, "prediction", "prediction_drift", pred.detector_configs, metrics,
                                         f"predictions of {mid} drifted") if pred else None)
        self.errors = (SignalMonitor(mid, "error_rate", "concept_drift", pred.error_detectors, metrics,
                                     f"error rate of {mid} changed (labels vs predictions)") if pred else None)
        self.join = LabelJoin()
        self._accuracy: dict[str, deque[int]] = {}
        self._unseen_seen = dict.fromkeys(self.features, 0)

    def observe(self, role: str, events: Sequence[Any], batch: Batch) -> list[DriftAlert]:
        """Events of one role ("features", "predictions", "labels") from one partition, in offset order."""
        if role == "features":
            return self.observe_features(events, batch)
        if role == "predictions":
            return self.observe_predictions(events, batch)
        return self.observe_labels(events, batch)

    # -- features -------------------------------------------------------------------------------
    def observe_features(self, events: Sequence[FeatureEvent | PredictionEvent], batch: Batch) -> list[DriftAlert]:
        mid = self.config.model_id
        dicts = [e.features or {} for e in events]
        matrix = numeric_matrix(dicts, self._numeric)
        alerts: list[DriftAlert] = []
        for feature in self.config.features:
            if feature.type == "numeric":
                column = numeric_column(matrix[:, self._numeric.index(feature.name)], feature)
            else:
                column = categorical_column([d.get(feature.name) for d in dicts])
            self._count_quality(feature.name, column)
            signal = self.features[feature.name]
            alerts += signal.observe(column.values, column.rows, batch, UNVERSIONED, self.cooldown, self.policy)
            if feature.type == "categorical":
                self._count_unseen(feature.name, signal)
            alerts += self._quality_alerts(feature, column, batch)
        return alerts

    def _count_quality(self, name: str, column: Column) -> None:
        mid = self.config.model_id
        for counter, mask in ((self.metrics.missing, column.missing), (self.metrics.out_of_range, column.out_of_range),
                              (self.metrics.wrong_type, column.wrong_type)):
            if n := int(np.count_nonzero(mask)):
                counter.labels(mid, name).inc(n)

    def _count_unseen(self, name: str, signal: SignalMonitor) -> None:
        total = signal.unseen_total()
        if total > self._unseen_seen[name]:
            self.metrics.unseen_categories.labels(self.config.model_id, name).inc(total - self._unseen_seen[name])
        self._unseen_seen[name] = total

    def _quality_alerts(self, feature: FeatureConfig, column: Column, batch: Batch) -> list[DriftAlert]:
        alerts = []
        quality = self.quality[feature.name]
        for first, at, problem, rate in quality.observe(column, batch):
            if not self.cooldown.allow(feature.name, problem, at.time):
                continue
            alerts.append(build_alert(
                model_id=self.config.model_id, model_version=UNVERSIONED, kind="data_quality",
                signal=feature.name, detector=problem, statistic=rate, threshold=quality.limit(problem),
                first=first, at=at, policy=self.policy,
                what=f"{problem.replace('_', ' ')} rate of '{feature.name}' is {rate:.1%} over {QUALITY_WINDOW} events"))
        return alerts

    # -- predictions and labels -----------------------------------------------------------------
    def observe_predictions(self, events: Sequence[PredictionEvent], batch: Batch) -> list[DriftAlert]:
        alerts = []
        if self.config.features:
            # Only the events that carry inline features feed the feature monitors: the others
            # published their features on the features topic, or none at all.
            inline = [i for i, e in enumerate(events) if e.features]
            if inline:
                alerts += self.observe_features([events[i] for i in inline], batch.subset(inline))
        if self.prediction is None:
            return alerts
        versions = [e.model_version for e in events]
        raw = [e.prediction for e in events]
        if self.config.prediction.type == "numeric":
            column = numeric_column(numeric_matrix([{"p": p} for p in raw], ["p"])[:, 0], _PREDICTION)
        else:
            column = categorical_column(raw)
        alerts += self.prediction.observe(column.values, column.rows, batch, versions, self.cooldown, self.policy)
        joined = self.join.add_predictions([e.event_id for e in events], raw, versions)
        return alerts + self._score(joined, batch)

    def observe_labels(self, events: Sequence[LabelEvent], batch: Batch) -> list[DriftAlert]:
        if self.errors is None:
            return []
        joined = self.join.add_labels([e.event_id for e in events], [e.label for e in events])
        return self._score(joined, batch)

    def _score(self, joined: list[Joined], batch: Batch) -> list[DriftAlert]:
        """Joined pairs -> accuracy per version, and the error stream -> concept-drift detectors."""
        if not joined:
            return []
        mid = self.config.model_id
        self.metrics.labels_joined.labels(mid).inc(len(joined))
        rows = np.array([j.row for j in joined], dtype=np.int64)
        errors = np.array([0.0 if _same(j.prediction, j.label) else 1.0 for j in joined])
        by_row = [""] * len(batch)
        for j, error in zip(joined, errors):
            key = j.version if j.version in self._accuracy or len(self._accuracy) < MAX_TRACKED_VERSIONS else "other"
            self._accuracy.setdefault(key, deque(maxlen=QUALITY_WINDOW)).append(int(error))
            by_row[j.row] = j.version
        for version, window in self._accuracy.items():
            self.metrics.accuracy.labels(mid, version).set(1.0 - sum(window) / len(window))
        return self.errors.observe(errors, rows, batch, by_row, self.cooldown, self.policy)

    # -- checkpoints ------------------------------------------------------------------------------
    def _signals(self) -> dict[str, SignalMonitor | None]:
        return {**{f"feature:{k}": m for k, m in self.features.items()},
                "prediction": self.prediction, "errors": self.errors}

    def state(self) -> dict[str, Any]:
        """Everything learned from the stream, as plain picklable data."""
        return {
            "signals": {k: m.state() for k, m in self._signals().items() if m is not None},
            "quality": {k: q.state() for k, q in self.quality.items()},
            "cooldown": self.cooldown.state(),
            "join": self.join.state(),
            "accuracy": {k: list(v) for k, v in self._accuracy.items()},
        }

    def load(self, state: dict[str, Any]) -> None:
        signals = self._signals()
        for key, signal_state in state["signals"].items():
            if signals.get(key) is not None:
                signals[key].load(signal_state)
        for key, quality_state in state["quality"].items():
            if key in self.quality:
                self.quality[key].load(quality_state)
        self.cooldown.load(state["cooldown"])
        self.join.load(state["join"])
        self._accuracy = {k: deque(v, maxlen=QUALITY_WINDOW) for k, v in state["accuracy"].items()}
        self._unseen_seen = {name: signal.unseen_total() for name, signal in self.features.items()}


def _same(prediction: Any, label: Any) -> bool:
    if isinstance(prediction, (int, float)) and isinstance(label, (int, float)):
        return float(prediction) == float(label)
    return str(prediction) == str(label)
