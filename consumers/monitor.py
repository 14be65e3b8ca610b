"""Per-model monitoring: numpy columns per feature in, detector firings and data-quality alerts out."""

from __future__ import annotations

from collections import OrderedDict, deque
from operator import itemgetter
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
MAX_PENDING_PREDICTIONS = 100_000   # per side of the prediction-label join
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
                    detector=name, statistic=det.alarm_statistic, threshold=det.alarm_threshold,
                    first=first, at=at, policy=policy, what=self.what))
        return alerts

    def state(self) -> dict[str, Any]:
        return {"detectors": {k: d.snapshot() for k, d in self.detectors.items()}, "first": dict(self._first)}

    def load(self, state: dict[str, Any]) -> None:
        """Restore detectors that are still configured; a detector added since starts fresh."""
        for name, blob in state["detectors"].items():
            if name in self.detectors:
                self.detectors[name] = detectors.restore(blob)
                self._first[name] = state["first"].get(name)


class QualityMonitor:
    """Missing and invalid (out-of-range, wrong-type) rates of one feature, judged every QUALITY_WINDOW events.

    Windows are cut at exact event counts, never at batch edges, so a replay from any offset
    reaches the same verdicts at the same events.
    """

    def __init__(self, model_id: str, feature: FeatureConfig):
        self.model_id = model_id
        self.feature = feature
        self._seen = 0
        self._missing = 0
        self._invalid = 0
        self._first: EventRef | None = None

    def observe(self, missing: np.ndarray, invalid: np.ndarray,
                batch: Batch) -> list[tuple[EventRef, EventRef, str, float]]:
        """Boolean masks over a batch's events; returns (first, last, problem, rate) per window over the limit."""
        verdicts = []
        start = 0
        n = len(missing)
        while start < n:
            if self._seen == 0:
                self._first = batch.ref(start)
            take = min(QUALITY_WINDOW - self._seen, n - start)
            end = start + take
            self._seen += take
            self._missing += int(np.count_nonzero(missing[start:end]))
            self._invalid += int(np.count_nonzero(invalid[start:end]))
            if self._seen == QUALITY_WINDOW:
                verdict = self._verdict()
                if verdict:
                    verdicts.append((self._first, batch.ref(end - 1), *verdict))
                self._seen = self._missing = self._invalid = 0
            start = end
        return verdicts

    def _verdict(self) -> tuple[str, float] | None:
        limit = self.feature.max_missing_rate
        missing_rate, invalid_rate = self._missing / self._seen, self._invalid / self._seen
        if missing_rate > limit:
            return "missing", missing_rate
        if invalid_rate > limit:
            return "out_of_range_or_wrong_type", invalid_rate
        return None

    def state(self) -> tuple:
        return self._seen, self._missing, self._invalid, self._first

    def load(self, state: Sequence) -> None:
        self._seen, self._missing, self._invalid, self._first = state


def numeric_matrix(dicts: list[dict], names: Sequence[str]) -> np.ndarray:
    """One float column per name; absent or null -> NaN, a string (wrong type) -> inf.

    One C-speed pass when every event carries every feature as a number (the common case);
    value by value otherwise. JSON true/false count as 1/0.
    """
    if not names:
        return np.empty((len(dicts), 0))
    get = itemgetter(*names)
    try:
        rows = [get(d) for d in dicts]
        matrix = np.array(rows if len(names) > 1 else [[r] for r in rows], dtype=float)
        if matrix.shape == (len(dicts), len(names)):
            return matrix
    except (KeyError, TypeError, ValueError):
        pass
    return np.array([[_as_number(d.get(n)) for n in names] for d in dicts], dtype=float).reshape(len(dicts), len(names))


def _as_number(value: Any) -> float:
    if value is None:
        return np.nan
    return float(value) if isinstance(value, (int, float)) else np.inf


def numeric_column(col: np.ndarray, feature: FeatureConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(values, rows, missing, invalid): the usable numbers of a feature column, the rows they came
    from, and boolean masks over all rows of the absent and the unusable (out of range, wrong type)."""
    missing = np.isnan(col)
    ok = np.isfinite(col)
    if feature.min is not None:
        ok &= col >= feature.min
    if feature.max is not None:
        ok &= col <= feature.max
    rows = np.flatnonzero(ok)
    return col[rows], rows, missing, ~ok & ~missing


def categorical_column(raw: list[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    missing = np.array([v is None for v in raw], dtype=bool)
    rows = np.flatnonzero(~missing)
    values = np.array([str(raw[i]).lower() if isinstance(raw[i], bool) else str(raw[i]) for i in rows], dtype=object)
    return values, rows, missing


_PREDICTION = FeatureConfig(name="prediction")


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
        self._numeric_names = [f.name for f in config.features if f.type == "numeric"]
        pred = config.prediction
        self.prediction = (SignalMonitor(mid, "prediction", "prediction_drift", pred.detector_configs, metrics,
                                         f"predictions of {mid} drifted") if pred else None)
        self.errors = (SignalMonitor(mid, "error_rate", "concept_drift", pred.error_detectors, metrics,
                                     f"error rate of {mid} changed (labels vs predictions)") if pred else None)
        self._pending: OrderedDict[str, tuple[Any, str]] = OrderedDict()     # predictions awaiting labels
        self._early_labels: OrderedDict[str, Any] = OrderedDict()             # labels awaiting predictions
        self._accuracy: dict[str, deque[int]] = {}

    # -- features -------------------------------------------------------------------------------
    def observe_features(self, events: Sequence[FeatureEvent | PredictionEvent], batch: Batch) -> list[DriftAlert]:
        alerts: list[DriftAlert] = []
        mid = self.config.model_id
        dicts = [e.features or {} for e in events]
        matrix = numeric_matrix(dicts, self._numeric_names)
        for feature in self.config.features:
            if feature.type == "numeric":
                values, rows, missing, invalid = numeric_column(matrix[:, self._numeric_names.index(feature.name)],
                                                                feature)
            else:
                values, rows, missing = categorical_column([d.get(feature.name) for d in dicts])
                invalid = np.zeros(len(dicts), dtype=bool)
            if n_missing := int(np.count_nonzero(missing)):
                self.metrics.missing.labels(mid, feature.name).inc(n_missing)
            if n_invalid := int(np.count_nonzero(invalid)):
                self.metrics.out_of_range.labels(mid, feature.name).inc(n_invalid)
            alerts += self.features[feature.name].observe(values, rows, batch, "unversioned", self.cooldown,
                                                          self.policy)
            alerts += self._quality_alerts(feature, missing, invalid, batch)
        return alerts

    def _quality_alerts(self, feature: FeatureConfig, missing: np.ndarray, invalid: np.ndarray,
                        batch: Batch) -> list[DriftAlert]:
        alerts = []
        for first, at, problem, rate in self.quality[feature.name].observe(missing, invalid, batch):
            if not self.cooldown.allow(feature.name, problem, at.time):
                continue
            alerts.append(build_alert(
                model_id=self.config.model_id, model_version="unversioned", kind="data_quality",
                signal=feature.name, detector=problem, statistic=rate, threshold=feature.max_missing_rate,
                first=first, at=at, policy=self.policy,
                what=f"{problem.replace('_', ' ')} rate of '{feature.name}' is {rate:.1%} over {QUALITY_WINDOW} events"))
        return alerts

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
            values, rows, _, _ = numeric_column(numeric_matrix([{"p": p} for p in raw], ["p"])[:, 0], _PREDICTION)
        else:
            values, rows, _ = categorical_column(raw)
        alerts += self.prediction.observe(values, rows, batch, versions, self.cooldown, self.policy)
        # The join is symmetric: a label may overtake its prediction (another topic, another fetch).
        joined = []
        for i, e in enumerate(events):
            label = self._early_labels.pop(e.event_id, _MISSING)
            if label is _MISSING:
                self._pending[e.event_id] = (e.prediction, e.model_version)
            else:
                joined.append((i, e.prediction, e.model_version, label))
        _trim(self._pending)
        return alerts + self._score(joined, batch)

    def observe_labels(self, events: Sequence[LabelEvent], batch: Batch) -> list[DriftAlert]:
        if self.errors is None:
            return []
        joined = []
        for i, e in enumerate(events):
            pending = self._pending.pop(e.event_id, None)
            if pending is None:
                self._early_labels[e.event_id] = e.label
            else:
                joined.append((i, *pending, e.label))
        _trim(self._early_labels)
        return self._score(joined, batch)

    def _score(self, joined: list[tuple[int, Any, str, Any]], batch: Batch) -> list[DriftAlert]:
        """Joined (row, prediction, version, label) -> accuracy per version, error stream -> detectors."""
        if not joined:
            return []
        mid = self.config.model_id
        self.metrics.labels_joined.labels(mid).inc(len(joined))
        rows = np.array([j[0] for j in joined], dtype=np.int64)
        errors = np.array([0.0 if _same(prediction, label) else 1.0 for _, prediction, _, label in joined])
        by_row = [""] * len(batch.offsets)
        for (row, _, version, _), error in zip(joined, errors):
            key = version if version in self._accuracy or len(self._accuracy) < MAX_TRACKED_VERSIONS else "other"
            self._accuracy.setdefault(key, deque(maxlen=QUALITY_WINDOW)).append(int(error))
            by_row[row] = version
        for version, window in self._accuracy.items():
            self.metrics.accuracy.labels(mid, version).set(1.0 - sum(window) / len(window))
        return self.errors.observe(errors, rows, batch, by_row, self.cooldown, self.policy)

    # -- checkpoints ------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything learned from the stream, as plain picklable data."""
        signals = {**{f"feature:{k}": m for k, m in self.features.items()},
                   "prediction": self.prediction, "errors": self.errors}
        return {
            "signals": {k: m.state() for k, m in signals.items() if m is not None},
            "quality": {k: q.state() for k, q in self.quality.items()},
            "cooldown": self.cooldown.state(),
            "pending": list(self._pending.items()),
            "early_labels": list(self._early_labels.items()),
            "accuracy": {k: list(v) for k, v in self._accuracy.items()},
        }

    def load(self, state: dict[str, Any]) -> None:
        signals = {**{f"feature:{k}": m for k, m in self.features.items()},
                   "prediction": self.prediction, "errors": self.errors}
        for key, signal_state in state["signals"].items():
            if signals.get(key) is not None:
                signals[key].load(signal_state)
        for key, quality_state in state["quality"].items():
            if key in self.quality:
                self.quality[key].load(quality_state)
        self.cooldown.load(state["cooldown"])
        self._pending = OrderedDict(state["pending"])
        self._early_labels = OrderedDict(state["early_labels"])
        self._accuracy = {k: deque(v, maxlen=QUALITY_WINDOW) for k, v in state["accuracy"].items()}


_MISSING = object()


def _trim(pending: OrderedDict) -> None:
    """Bound the join's memory: the oldest unmatched entries go first."""
    while len(pending) > MAX_PENDING_PREDICTIONS:
        pending.popitem(last=False)


def _same(prediction: Any, label: Any) -> bool:
    if isinstance(prediction, (int, float)) and isinstance(label, (int, float)):
        return float(prediction) == float(label)
    return str(prediction) == str(label)
