"""The monitor service: consume a batch, decode it, feed each model's monitors, publish alerts, checkpoint."""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable

from kafka import ConsumerRebalanceListener, TopicPartition
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.errors import KafkaError
from prometheus_client import CollectorRegistry, start_http_server

from stream.codec import BatchDecoder, encode
from stream.config import Config
from stream.events import DriftAlert, FeatureEvent, LabelEvent, PredictionEvent
from stream.kafka_clients import ensure_topics, make_consumer, make_producer
from stream.metrics import ServiceMetrics

from .checkpoint import Checkpoints, Snapshot
from .dead_letter import DeadLetters
from .monitor import Batch, ModelMonitor
from .outbox import Outbox

log = logging.getLogger(__name__)

EVENT_TYPES = {"features": FeatureEvent, "predictions": PredictionEvent, "labels": LabelEvent}


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, service: MonitorService):
        self.service = service

    def on_partitions_revoked(self, revoked):
        self.service._release({tp.partition for tp in revoked})

    def on_partitions_assigned(self, assigned):
        self.service._adopt(assigned)


class MonitorService:
    """Exactly-once by default: alerts, dead letters, state snapshots and consumed offsets commit in one
    Kafka transaction (or, with delivery at_least_once, outputs are flushed before offsets commit).

    Monitors live per partition number: a model's three streams are keyed by model_id onto the same
    partition of each topic, and the range assignor hands those partitions to the same consumer.
    """

    def __init__(self, config: Config, registry: CollectorRegistry | None = None,
                 on_alert: Callable[[DriftAlert], None] | None = None):
        self.config = config
        self.registry = registry or CollectorRegistry()
        self.metrics = ServiceMetrics(self.registry)
        self.on_alert = on_alert
        topics = config.topics
        self.roles = {topics.features: "features", topics.predictions: "predictions", topics.labels: "labels"}
        max_bytes = config.consumer.max_message_bytes
        self.decoders = {role: BatchDecoder(cls, max_bytes) for role, cls in EVENT_TYPES.items()}
        self.models = {m.model_id: m for m in config.models}
        self.owned: dict[int, dict[str, ModelMonitor]] = {}     # partition -> model_id -> monitor
        self.positions: dict[TopicPartition, int] = {}           # next offset to process
        self.checkpoints = Checkpoints(config.kafka, topics, config.consumer.group_id, config.checkpoint,
                                       self.metrics)
        self._stop = threading.Event()
        self._consumer = None
        self._producer = None
        self._dead = None
        self._outbox = None
        self._metrics_server = None

    # -- lifecycle --------------------------------------------------------------------------------
    def stop(self, *_: object) -> None:
        """Ask the loop to finish its batch, checkpoint and close (safe from a signal handler)."""
        self._stop.set()

    def serve_metrics(self) -> int:
        """Start the /metrics HTTP endpoint; returns the bound port (useful when configured as 0)."""
        server, _thread = start_http_server(self.config.metrics.port, self.config.metrics.host,
                                            registry=self.registry)
        self._metrics_server = server
        return server.server_address[1]

    def calibrate(self) -> None:
        """Build one detector per distinct configuration with a stand-in reference, so a `ks`
        calibration (seconds, cached per process) happens at start-up, not inside a batch."""
        import numpy as np

        import detectors

        rng = np.random.default_rng(0)
        seen = set()
        for model in self.config.models:
            configs = [c for f in model.features for c in f.detector_configs]
            if model.prediction:
                configs += model.prediction.detector_configs
            for cfg in configs:
                key = (cfg.kind, tuple(sorted(cfg.params.items())))
                if cfg.kind != "ks" or key in seen:
                    continue
                seen.add(key)
                size = cfg.params.get("reference_size", 1000)
                detectors.create(cfg.kind, reference=rng.normal(size=size), **cfg.params)

    def connect(self) -> None:
        cfg = self.config
        ensure_topics(cfg.kafka, cfg.topics)   # first: refused credentials fail before any slow start-up work
        self.calibrate()
        transactional = cfg.consumer.delivery == "exactly_once"
        txn = ({"transactional_id": f"streamdrift-{cfg.consumer.group_id}-{cfg.consumer.instance_id}",
                "transaction_timeout_ms": cfg.consumer.transaction_timeout_ms} if transactional else {})
        self._producer = make_producer(cfg.kafka, **txn)
        self._consumer = make_consumer(
            cfg.kafka,
            group_id=cfg.consumer.group_id,
            group_instance_id=cfg.consumer.instance_id,
            session_timeout_ms=cfg.consumer.session_timeout_ms,
            isolation_level="read_committed",
            enable_auto_commit=False,
            auto_offset_reset=cfg.consumer.auto_offset_reset,
            max_poll_records=cfg.consumer.max_poll_records,
            partition_assignment_strategy=[RangePartitionAssignor],   # co-partitioning: same p for every topic
            # Oversized messages must reach us to be dead-lettered, not stall the fetch.
            max_partition_fetch_bytes=max(1_048_576, cfg.consumer.max_message_bytes * 2),
        )
        self._await_partitions(cfg.topics.partitions)
        self._outbox = Outbox(self._producer, self._consumer, transactional)
        self._consumer.subscribe(list(self.roles), listener=_Rebalance(self))
        self._dead = DeadLetters(self._outbox, cfg.topics.dead_letter, self.metrics)

    def _await_partitions(self, count: int, timeout_s: float = 30.0) -> None:
        """Topics just created may not have leaders yet; joining the group then would assign nothing."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(len(self._consumer.partitions_for_topic(t) or ()) >= count for t in self.roles):
                return
            time.sleep(0.2)
        log.warning("partition metadata of %s incomplete after %.0f s; joining anyway", sorted(self.roles), timeout_s)

    def run(self) -> None:
        """Consume until stop(); then checkpoint what was processed and close the clients."""
        if self._consumer is None:
            self.connect()
        self.metrics.up.set(1)
        log.info("consuming %s as group %s", sorted(self.roles), self.config.consumer.group_id)
        try:
            while not self._stop.is_set():
                records = self._consumer.poll(timeout_ms=self.config.consumer.poll_timeout_ms,
                                              max_records=self.config.consumer.max_poll_records)
                if records:
                    self.process(records)
                if self.checkpoints.due():
                    self._try_checkpoint()
            self._try_checkpoint(rewind=False)
        finally:
            self.metrics.up.set(0)
            self.close()

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush()
            self._producer.close()
            self._producer = None
        if self._consumer is not None:
            self._consumer.close(autocommit=False)
            self._consumer = None
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server = None

    # -- state ------------------------------------------------------------------------------------
    def _snapshot(self, partition: int) -> Snapshot:
        offsets = {tp.topic: off for tp, off in self.positions.items() if tp.partition == partition}
        monitors = self.owned.get(partition, {})
        return Snapshot(self.config.consumer.group_id, partition, offsets,
                        {mid: m.state() for mid, m in monitors.items()})

    def checkpoint(self, partitions: set[int] | None = None) -> None:
        parts = set(self.owned) | {tp.partition for tp in self.positions} if partitions is None else partitions
        self.checkpoints.write(self._outbox, [self._snapshot(p) for p in sorted(parts)])

    def _try_checkpoint(self, partitions: set[int] | None = None, rewind: bool = True) -> None:
        """A checkpoint can fail while the broker is away or the group has moved on. at_least_once
        retries at the next batch (a snapshot it may have written is consistent: restore seeks to the
        snapshot's own offsets). exactly_once aborts the transaction and, unless the partitions are
        being given up anyway, rewinds state and position to the last snapshot."""
        try:
            self.checkpoint(partitions)
        except KafkaError as exc:
            if not self._outbox.transactional:
                log.warning("checkpoint failed, will retry: %s", exc)
                return
            log.warning("checkpoint failed (%s): aborting the transaction%s", exc,
                        ", rewinding to the last snapshot" if rewind else "; the last snapshot stands")
            self._outbox.abort()
            if rewind:
                self._rewind()

    def _rewind(self) -> None:
        assigned = self._consumer.assignment()
        self.owned.clear()
        self.positions.clear()
        self._adopt(assigned, rewinding=True)

    def _release(self, partitions: set[int]) -> None:
        """Revocation: a final snapshot, then forget, so the next owner starts exactly here."""
        mine = {p for p in partitions if p in self.owned or any(tp.partition == p for tp in self.positions)}
        if mine and self._producer is not None:
            self._try_checkpoint(mine, rewind=False)
        for p in partitions:
            self.owned.pop(p, None)
        self.positions = {tp: off for tp, off in self.positions.items() if tp.partition not in partitions}

    def _adopt(self, assigned, rewinding: bool = False) -> None:
        """Assignment: restore each partition's latest snapshot and seek to the offsets it reflects."""
        partitions = {tp.partition for tp in assigned}
        snapshots = self.checkpoints.read(partitions)
        for p in partitions:
            self.owned[p] = {}
            snap = snapshots.get(p)
            if snap is None:
                continue
            for model_id, state in snap.models.items():
                if model_id in self.models:
                    self._monitor(p, model_id).load(state)
        for tp in assigned:
            snap = snapshots.get(tp.partition)
            if snap is not None and tp.topic in snap.offsets:
                self._consumer.seek(tp, snap.offsets[tp.topic])
                self.positions[tp] = snap.offsets[tp.topic]
            elif rewinding:
                committed = self._consumer.committed(tp)
                if committed is not None:
                    self._consumer.seek(tp, committed)
                else:
                    self._consumer.seek_to_beginning(tp)
        log.info("assigned partitions %s (restored %d snapshot(s))", sorted(partitions), len(snapshots))

    def _monitor(self, partition: int, model_id: str) -> ModelMonitor:
        monitors = self.owned.setdefault(partition, {})
        monitor = monitors.get(model_id)
        if monitor is None:
            monitor = monitors[model_id] = ModelMonitor(self.models[model_id], self.config.alerts, self.metrics)
        return monitor

    # -- one batch --------------------------------------------------------------------------------
    def process(self, records: dict[TopicPartition, list]) -> list[DriftAlert]:
        started = time.perf_counter()
        alerts: list[DriftAlert] = []
        size = 0
        for tp, messages in records.items():
            size += len(messages)
            alerts += self._process_partition(tp, messages)
            self.positions[tp] = messages[-1].offset + 1
        for alert in alerts:
            self._outbox.send(self.config.topics.alerts, key=alert.model_id.encode(), value=encode(alert))
            self.metrics.alerts.labels(alert.model_id, alert.kind, alert.signal, alert.severity).inc()
            log.info("ALERT %s", alert.line())
            if self.on_alert:
                self.on_alert(alert)
        self.checkpoints.count(size)
        self.metrics.batch_size.observe(size)
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        return alerts

    def _process_partition(self, tp: TopicPartition, messages: list) -> list[DriftAlert]:
        role = self.roles[tp.topic]
        decoded = self.decoders[role].decode([m.value for m in messages])
        for bad in decoded.rejected:
            self._dead.send(messages[bad.index], bad.reason, bad.detail)
        by_model: dict[str, list[int]] = defaultdict(list)
        for j, event in enumerate(decoded.events):
            by_model[event.model_id].append(j)
        alerts = []
        for model_id, js in by_model.items():
            if model_id not in self.models:
                for j in js:
                    self._dead.send(messages[decoded.indices[j]], "unknown_model",
                                    f"model_id {model_id!r} is not in the configuration's models")
                continue
            monitor = self._monitor(tp.partition, model_id)
            events = [decoded.events[j] for j in js]
            batch = Batch(tp.topic, tp.partition, [messages[decoded.indices[j]].offset for j in js],
                          [e.timestamp for e in events])
            self.metrics.events.labels(role, model_id).inc(len(events))
            observe = {"features": monitor.observe_features, "predictions": monitor.observe_predictions,
                       "labels": monitor.observe_labels}[role]
            alerts += observe(events, batch)
        return alerts
