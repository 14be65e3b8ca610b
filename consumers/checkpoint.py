"""Checkpoints: each partition's monitors snapshotted to the compacted state topic, then its offsets committed.

Commit order (as Kafka Streams and Quix Streams do it): flush alerts and dead letters, write the
snapshot tagged with the next offsets, then commit those offsets. A crash at any point leaves the
latest snapshot and its offsets in agreement, or an older pair; a restart resumes from the
snapshot's offsets, so no event is lost and none is counted twice in the restored state.
"""

from __future__ import annotations

import logging
import pickle
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from kafka import TopicPartition
from kafka.structs import OffsetAndMetadata

from stream.config import CheckpointConfig, KafkaConfig, TopicsConfig
from stream.kafka_clients import make_consumer
from stream.metrics import ServiceMetrics

from .outbox import Outbox

log = logging.getLogger(__name__)

SNAPSHOT_FORMAT = 1


@dataclass
class Snapshot:
    """The monitors of one partition number (features, predictions and labels co-partition) and their offsets."""

    group: str
    partition: int
    offsets: dict[str, int]                  # data topic -> next offset to read
    models: dict[str, dict[str, Any]] = field(default_factory=dict)   # model_id -> ModelMonitor.state()
    written_at: str = ""

    def encode(self) -> bytes:
        # Pickle: the state topic is written only by streamdrift itself; never point it at foreign data.
        return pickle.dumps({"format": SNAPSHOT_FORMAT, **self.__dict__}, protocol=5)

    @classmethod
    def decode(cls, blob: bytes) -> Snapshot | None:
        payload = pickle.loads(blob)
        if payload.pop("format", None) != SNAPSHOT_FORMAT:
            return None
        return cls(**payload)


class Checkpoints:
    def __init__(self, kafka: KafkaConfig, topics: TopicsConfig, group: str, policy: CheckpointConfig,
                 metrics: ServiceMetrics):
        self.kafka = kafka
        self.topics = topics
        self.group = group
        self.policy = policy
        self.metrics = metrics
        self._events_since = 0
        self._last = time.monotonic()

    def key(self, partition: int) -> bytes:
        return f"{self.group}/{partition}".encode()

    def state_partition(self, partition: int) -> int:
        return partition % self.topics.partitions

    def count(self, events: int) -> None:
        self._events_since += events

    def due(self) -> bool:
        return (self._events_since >= self.policy.every_events
                or (self._events_since > 0 and time.monotonic() - self._last >= self.policy.every_seconds))

    def write(self, outbox: Outbox, snapshots: list[Snapshot]) -> None:
        """Write the snapshots after the outputs they follow, then commit the offsets they carry."""
        if not snapshots:
            return
        if not outbox.transactional:
            outbox.producer.flush()   # alerts and dead letters are durable before the state that follows them
        now = datetime.now(timezone.utc).isoformat()
        for snap in snapshots:
            snap.written_at = now
            outbox.send(self.topics.state, key=self.key(snap.partition), value=snap.encode(),
                        partition=self.state_partition(snap.partition))
        outbox.commit({TopicPartition(topic, snap.partition): OffsetAndMetadata(offset, "", -1)
                       for snap in snapshots for topic, offset in snap.offsets.items()})
        self.metrics.checkpoints.inc(len(snapshots))
        self._events_since = 0
        self._last = time.monotonic()

    def read(self, partitions: set[int]) -> dict[int, Snapshot]:
        """The latest snapshot of each partition number, read from the compacted state topic."""
        if not partitions:
            return {}
        wanted = {self.key(p): p for p in partitions}
        found: dict[int, Snapshot] = {}
        # read_committed: a snapshot from an aborted transaction never existed.
        reader = make_consumer(self.kafka, enable_auto_commit=False, isolation_level="read_committed")
        try:
            tps = sorted({TopicPartition(self.topics.state, self.state_partition(p)) for p in partitions})
            reader.assign(tps)
            reader.seek_to_beginning(*tps)
            end = reader.end_offsets(tps)
            remaining = {tp for tp in tps if end[tp] > 0}
            deadline = time.monotonic() + 60
            while remaining and time.monotonic() < deadline:
                for tp, records in reader.poll(timeout_ms=500).items():
                    for record in records:
                        p = wanted.get(record.key)
                        if p is not None and record.value is not None:
                            snap = Snapshot.decode(record.value)
                            if snap is not None:
                                found[p] = snap
                    if reader.position(tp) >= end[tp]:
                        remaining.discard(tp)
            if remaining:
                raise RuntimeError(f"could not read the state topic to its end for {sorted(remaining)}")
        finally:
            reader.close()
        return found
