"""One partition number's state: the monitors of the models keyed onto it and how far each data topic was read.

A model's features, predictions and labels are keyed by model_id onto the same partition number of
each topic (co-partitioning), so one owner holds its monitors and the positions they reflect. Its
snapshot is the checkpoint: restoring it and reading on from its positions is exact.
"""

from __future__ import annotations

import pickle
import zlib
from dataclasses import dataclass, field
from typing import Any

from stream.config import AlertPolicy, ModelConfig
from stream.metrics import ServiceMetrics

from .model_monitor import ModelMonitor

SNAPSHOT_FORMAT = 3


@dataclass
class Snapshot:
    """The state of one partition number, tagged with the next offset of each data topic it reflects."""

    group: str
    partition: int
    offsets: dict[str, int]                                        # data topic -> next offset to read
    models: dict[str, dict[str, Any]] = field(default_factory=dict)   # model_id -> ModelMonitor.state()

    def encode(self) -> bytes:
        # Pickle: the state topic is written only by streamdrift itself; never point it at foreign data.
        # zlib at its fastest level: pending predictions' event ids and detectors' references shrink a
        # few times, and a partition's whole snapshot must fit one record of the state topic.
        return zlib.compress(pickle.dumps({"format": SNAPSHOT_FORMAT, **self.__dict__}, protocol=5), 1)

    @classmethod
    def decode(cls, blob: bytes) -> Snapshot | None:
        """None for a snapshot of another format: its partition starts afresh from the committed offsets."""
        try:
            payload = pickle.loads(zlib.decompress(blob))
        except zlib.error:   # an uncompressed snapshot of an earlier format
            return None
        if payload.pop("format", None) != SNAPSHOT_FORMAT:
            return None
        payload.pop("written_at", None)
        return cls(**payload)


class PartitionState:
    def __init__(self, number: int, models: dict[str, ModelConfig], policy: AlertPolicy, metrics: ServiceMetrics,
                 profiles: dict | None = None, quality_windows: int = 0):
        self.number = number
        self._quality_windows = quality_windows
        self._models = models
        self._policy = policy
        self._metrics = metrics
        self._profiles = profiles if profiles is not None else {}
        self.monitors: dict[str, ModelMonitor] = {}
        self.positions: dict[str, int] = {}   # data topic -> next offset to process
        self.starts: dict[str, int] = {}      # data topic -> first offset processed, where no snapshot said
        self.event_times: dict[str, Any] = {}   # data topic -> latest event time processed (not checkpointed)

    def monitor(self, model_id: str) -> ModelMonitor:
        monitor = self.monitors.get(model_id)
        if monitor is None:
            monitor = self.monitors[model_id] = ModelMonitor(self._models[model_id], self._policy, self._metrics,
                                                             self._profiles, self._quality_windows)
        return monitor

    def advance(self, topic: str, first_offset: int, next_offset: int) -> None:
        self.starts.setdefault(topic, self.positions.get(topic, first_offset))
        self.positions[topic] = next_offset

    def snapshot(self, group: str) -> Snapshot:
        return Snapshot(group, self.number, dict(self.positions),
                        {model_id: m.state() for model_id, m in self.monitors.items()})

    def restore(self, snapshot: Snapshot) -> None:
        """Monitors of models no longer configured are dropped; new ones start fresh."""
        for model_id, state in snapshot.models.items():
            if model_id in self._models:
                self.monitor(model_id).load(state)
        self.positions = dict(snapshot.offsets)
