"""The monitors of a configuration run offline over historical logs: the service's router, fed from files.

Events are placed as Kafka would place them if the log were replayed into empty topics (partition
by murmur2 of the model id, offsets counted per topic partition), so the alerts a backtest writes
have the ids the service raises after `streamdrift replay` of the same log. Several configurations
can run over one read of the log, side by side.

Besides the alerts, a run records what a report plots: each detector's statistic against its
threshold over event time, data-quality rates per window, performance per scope, and at each
alert the reference against the recent distribution of its signal.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from kafka.partitioner.default import murmur2
from prometheus_client import CollectorRegistry

from stream.config import Config
from stream.events import DATA_ROLES, DriftAlert
from stream.history import HistoryRecord
from stream.metrics import ServiceMetrics
from stream.values import category, numeric_matrix

from .router import Router

EVIDENCE_VALUES = 1_000   # recent values of a signal kept to show against its reference at an alert
QUANTILES = np.linspace(0.0, 1.0, 21)


class Placement:
    """Where replaying the log into empty topics would put each event: partition and offset."""

    def __init__(self, partitions: int):
        self.partitions = partitions
        self._next: dict[tuple[str, int], int] = {}
        self._partition_of: dict[str, int] = {}   # murmur2 per event was a sixth of a backtest's time

    def place(self, topic: str, model_id: str) -> tuple[int, int]:
        partition = self._partition_of.get(model_id)
        if partition is None:
            partition = self._partition_of[model_id] = (murmur2(model_id.encode()) & 0x7FFFFFFF) % self.partitions
        offset = self._next.get((topic, partition), 0)
        self._next[(topic, partition)] = offset + 1
        return partition, offset


@dataclass
class Run:
    """One configuration's run: its router and everything it recorded."""

    name: str
    config: Config
    router: Router = field(init=False)
    topic_of: dict[str, str] = field(init=False)   # role -> this configuration's topic
    alerts: list[DriftAlert] = field(default_factory=list)
    trace: list[dict] = field(default_factory=list)
    quality: list[dict] = field(default_factory=list)
    performance: list[dict] = field(default_factory=list)
    evidence: list[dict] = field(default_factory=list)
    events: int = 0
    seconds: float = 0.0

    def __post_init__(self) -> None:
        # Drained after every chunk, so 64 windows (64,000 events of a feature) are never reached.
        self.router = Router(self.config, ServiceMetrics(CollectorRegistry()), quality_windows=64)
        self.topic_of = {role: self.config.topics.of_role(role) for role in DATA_ROLES}


class Backtest:
    """Feed `runs` from one log. `profiles`: published reference profiles, for `reference: training`."""

    def __init__(self, configs: dict[str, Config], profiles: dict | None = None, chunk: int = 5_000):
        self.runs = [Run(name, config) for name, config in configs.items()]
        for run in self.runs:
            run.router.profiles.update(profiles or {})
        self.chunk = chunk
        self._signals = _SignalValues()

    def feed(self, records: Iterable[HistoryRecord]) -> None:
        """Events in event-time order (what stream.history yields); rejected rows are skipped."""
        placements = {id(run): Placement(run.config.topics.partitions) for run in self.runs}
        batch: list[HistoryRecord] = []
        for item in records:
            if isinstance(item, HistoryRecord):
                batch.append(item)
                if len(batch) >= self.chunk:
                    self._route(batch, placements)
                    batch = []
        if batch:
            self._route(batch, placements)

    def _route(self, batch: list[HistoryRecord], placements: dict) -> None:
        self._signals.add(batch)
        for run in self.runs:
            started = time.perf_counter()
            topic_of, place = run.topic_of, placements[id(run)].place
            chunks: dict[tuple[str, int], list[tuple[int, Any]]] = {}
            for item in batch:
                topic = topic_of[item.role]
                partition, offset = place(topic, item.event.model_id)
                chunks.setdefault((topic, partition), []).append((offset, item.event))
            routed = run.router.route_events(chunks)
            run.events += len(batch)
            run.seconds += time.perf_counter() - started
            run.alerts += routed.alerts
            run.evidence += [self._signals.evidence(alert, run) for alert in routed.alerts
                             if alert.kind in ("data_drift", "prediction_drift")]
            self._record(run)

    def _record(self, run: Run) -> None:
        """After each chunk: statistics against thresholds, completed quality windows, performance."""
        for state in run.router.partitions.values():
            for model_id, monitor in state.monitors.items():
                now = max(state.event_times.values(), default=None)
                if now is None:
                    continue
                when = now.isoformat()
                for signal in monitor.signals():
                    for name, det in signal.detectors.items():
                        run.trace.append({"model": model_id, "signal": signal.signal, "scope": signal.scope.name,
                                          "detector": name, "time": when, "statistic": _num(det.statistic),
                                          "threshold": _num(det.threshold), "state": signal.state})
                for feature, quality in monitor.quality.items():
                    for at, rates in quality.drain():
                        run.quality.append({"model": model_id, "feature": feature, "time": at.time.isoformat(),
                                            **{problem: _num(rate) for problem, rate in rates.items()},
                                            "max_missing_rate": quality.limit("missing"),
                                            "max_invalid_rate": quality.limit("out_of_range")})
                for scope, perf in monitor.performance.items():
                    summary = perf.summary()["events"]
                    values = {k: _num(getattr(summary, k)) for k in ("accuracy", "macro_f1", "mae", "rmse")
                              if hasattr(summary, k)}
                    run.performance.append({"model": model_id, "scope": scope, "time": when,
                                            "pairs": summary.pairs, **values})


class _SignalValues:
    """Per model and signal: its first values (the reference, as a rolling monitor learns it) and its
    most recent ones, to show side by side at an alert."""

    def __init__(self) -> None:
        self._first: dict[tuple[str, str], list] = {}
        self._recent: dict[tuple[str, str], deque] = {}

    def add(self, batch: list[HistoryRecord]) -> None:
        features: dict[str, list[dict]] = {}
        predictions: dict[str, list[Any]] = {}
        for item in batch:
            if item.role == "labels":
                continue
            event = item.event
            if event.features:   # prediction events may carry the features inline
                features.setdefault(event.model_id, []).append(event.features)
            if item.role == "predictions":
                predictions.setdefault(event.model_id, []).append(event.prediction)
        for model_id, dicts in features.items():
            for name in {k for d in dicts for k in d}:
                self._extend((model_id, name), [d.get(name) for d in dicts])
        for model_id, values in predictions.items():
            self._extend((model_id, "prediction"), values)

    def _extend(self, key: tuple[str, str], values: list) -> None:
        first = self._first.setdefault(key, [])
        if len(first) < EVIDENCE_VALUES:
            first += values[: EVIDENCE_VALUES - len(first)]
        self._recent.setdefault(key, deque(maxlen=EVIDENCE_VALUES)).extend(values)

    def evidence(self, alert: DriftAlert, run: Run) -> dict:
        key = (alert.model_id, alert.signal)
        reference, recent = self._first.get(key, []), list(self._recent.get(key, ()))
        out = {"alert_id": alert.alert_id, "model": alert.model_id, "signal": alert.signal, "scope": alert.scope,
               "time": alert.detected_at.isoformat(), "note": "model-wide values; the alert's scope may be narrower"}
        numbers = [_finite(v) for v in reference + recent]
        if all(v is not None for v in numbers) and numbers:
            ref = numeric_matrix([{"v": v} for v in reference], ["v"])[:, 0]
            cur = numeric_matrix([{"v": v} for v in recent], ["v"])[:, 0]
            out |= {"type": "numeric", "quantiles": QUANTILES.tolist(),
                    "reference": np.quantile(ref, QUANTILES).tolist(), "current": np.quantile(cur, QUANTILES).tolist()}
        else:
            out |= {"type": "categorical", "reference": _frequencies(reference), "current": _frequencies(recent)}
        return out


def _frequencies(values: list) -> dict[str, float]:
    present = [category(v) for v in values if v is not None]
    counts: dict[str, int] = {}
    for v in present:
        counts[v] = counts.get(v, 0) + 1
    return {k: c / len(present) for k, c in sorted(counts.items(), key=lambda kv: -kv[1])} if present else {}


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _num(value: float) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None

