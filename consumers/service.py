"""The monitor service: wiring and the poll loop. The router decides, the checkpointer delivers."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import numpy as np
from kafka import ConsumerRebalanceListener, TopicPartition
from kafka.errors import KafkaError
from kafka.coordinator.assignors.range import RangePartitionAssignor
from prometheus_client import CollectorRegistry, start_http_server

import detectors
from stream.codec import encode
from stream.config import Config
from stream.events import DriftAlert
from stream.fetch_ahead import install as fetch_ahead
from stream.kafka_clients import ensure_topics, make_consumer
from stream.metrics import ServiceMetrics
from stream.profile_kafka import read_profiles

from .checkpoint import Checkpointer
from .router import Router, Routed

log = logging.getLogger(__name__)

# Consumer lag is read after a poll at most this often: a position lookup per partition costs ~20 us, and
# Prometheus scrapes every few seconds anyway.
LAG_EVERY_S = 0.25


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, service: MonitorService):
        self.service = service

    def on_partitions_revoked(self, revoked):
        self.service._revoked({tp.partition for tp in revoked})

    def on_partitions_assigned(self, assigned):
        self.service._load_profiles()
        self.service._checkpointer.restore(self.service.router, list(assigned))
        self.service._forget_moved_metrics(set(assigned))


class MonitorService:
    """Exactly-once by default: alerts, dead letters, state snapshots and consumed offsets commit in one
    Kafka transaction (consumers/checkpoint.py). Monitors live per partition number: a model's three
    streams are keyed by model_id onto the same partition of each topic, and the range assignor hands
    those partitions to the same consumer.
    """

    def __init__(self, config: Config, registry: CollectorRegistry | None = None,
                 on_alert: Callable[[DriftAlert], None] | None = None):
        self.config = config
        self.registry = registry or CollectorRegistry()
        self.metrics = ServiceMetrics(self.registry)
        self.metrics.declare(config)
        self.router = Router(config, self.metrics)
        self.on_alert = on_alert
        self._stop = threading.Event()
        self._consumer = None
        self._checkpointer: Checkpointer | None = None
        self._metrics_server = None
        self._released_models: set[str] = set()   # models of revoked partitions, until the next assignment
        self._lag_reported: set[TopicPartition] = set()
        self._lag_at = float("-inf")

    def stop(self, *_: object) -> None:
        """Ask the loop to finish its batch, checkpoint and close (safe from a signal handler)."""
        self._stop.set()

    def serve_metrics(self) -> int:
        """Start the /metrics HTTP endpoint; returns the bound port (useful when configured as 0)."""
        server, _thread = start_http_server(self.config.metrics.port, self.config.metrics.host,
                                            registry=self.registry)
        self._metrics_server = server
        return server.server_address[1]

    def connect(self) -> None:
        cfg = self.config
        ensure_topics(cfg.kafka, cfg.topics)   # first: refused credentials fail before any slow start-up work
        for detector in cfg.detector_configs():
            detectors.prepare(detector.kind, **detector.params)   # not inside the first batch
        self._consumer = make_consumer(
            cfg.kafka,
            group_id=cfg.consumer.group_id,
            group_instance_id=cfg.consumer.instance_id,
            session_timeout_ms=cfg.consumer.session_timeout_ms,
            isolation_level="read_committed",
            enable_auto_commit=False,
            auto_offset_reset=cfg.consumer.auto_offset_reset,
            max_poll_records=cfg.consumer.max_poll_records,
            fetch_min_bytes=cfg.consumer.fetch_min_bytes,
            fetch_max_wait_ms=cfg.consumer.fetch_max_wait_ms,
            partition_assignment_strategy=[RangePartitionAssignor],   # co-partitioning: same p for every topic
            # Oversized messages must reach us to be dead-lettered, not stall the fetch.
            max_partition_fetch_bytes=cfg.consumer.fetch_bytes_per_partition(),
        )
        # Only here: a reader that seeks (the state topic's, backwards) would wait for a fetch sent ahead.
        fetch_ahead(self._consumer)
        self._await_partitions(cfg.topics.partitions)
        self._checkpointer = Checkpointer(cfg, self._consumer, self.metrics, stopping=self._stop.is_set)
        self._consumer.subscribe(list(self.router.roles), listener=_Rebalance(self))

    def _load_profiles(self) -> None:
        """The published reference profiles of models with `reference: training`, read afresh on assignment."""
        if any(m.reference == "training" for m in self.config.models):
            profiles = read_profiles(self.config)
            self.router.profiles.clear()
            self.router.profiles.update(profiles)
            log.info("reference profiles: %s", ", ".join(sorted(p.key for p in profiles.values())) or "none")

    def _await_partitions(self, count: int, timeout_s: float = 30.0) -> None:
        """Topics just created may not have leaders yet; joining the group then would assign nothing."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(len(self._consumer.partitions_for_topic(t) or ()) >= count for t in self.router.roles):
                return
            time.sleep(0.2)
        log.warning("partition metadata of %s incomplete after %.0f s; joining anyway", sorted(self.router.roles),
                    timeout_s)

    def run(self) -> None:
        """Consume until stop(); then checkpoint what was processed and close the clients."""
        if self._consumer is None:
            self.connect()
        self.metrics.up.set(1)
        log.info("consuming %s as group %s", sorted(self.router.roles), self.config.consumer.group_id)
        try:
            while not self._stop.is_set():
                records = self._consumer.poll(timeout_ms=self.config.consumer.poll_timeout_ms,
                                              max_records=self.config.consumer.max_poll_records)
                if records or self.router.holding:
                    routed = self.router.route(records, self._upstream_read)
                    self.handle(routed)
                    self._measure_latency(records, routed)
                if time.monotonic() - self._lag_at >= LAG_EVERY_S:
                    self._measure_lag()
                if self._checkpointer.due(idle=not records):
                    self.checkpoint()
            self.checkpoint(rewind=False)
        finally:
            self.metrics.up.set(0)
            self.close()

    def handle(self, routed: Routed) -> None:
        """Hand a routed batch's outputs to the checkpointer, which delivers them with the next checkpoint."""
        topics = self.config.topics
        for dead in routed.dead_letters:
            self._checkpointer.send(topics.dead_letter, key=dead.record.key, value=dead.record.value,
                                    headers=dead.headers())
            log.warning("dead-lettered %s: %s (%s)", dead.source, dead.reason, dead.detail)
        for alert in routed.alerts:
            self._checkpointer.send(topics.alerts, key=alert.model_id.encode(), value=encode(alert))
            self.metrics.alerts.labels(alert.model_id, alert.kind, alert.signal, alert.severity).inc()
            log.info("ALERT %s", alert.line())
            if self.on_alert:
                self.on_alert(alert)
        for status in routed.statuses:   # same transaction as the alerts: "what is drifting now" agrees with them
            self._checkpointer.send(topics.status, key=status.key(), value=encode(status))
        self._checkpointer.count(routed.records)

    # -- operating metrics ---------------------------------------------------------------------------
    def _measure_latency(self, records: dict, routed: Routed) -> None:
        """Per model, the latest event time processed; per record, publish-to-processed latency."""
        for model_id, at in routed.event_times.items():
            self.metrics.saw_event_time(model_id, at.timestamp())
        stamps = np.fromiter((r.timestamp for batch in records.values() for r in batch), dtype=float)
        stamps = stamps[stamps >= 0]   # -1: no timestamp (pre-0.10 message format)
        if stamps.size:
            # Clock skew between a producer's host and ours must not make latencies negative.
            self.metrics.end_to_end_latency.observe_many(np.maximum(0.0, time.time() - stamps / 1000.0))

    def _measure_lag(self) -> None:
        """Records not yet processed, per assigned partition: fetched-but-held labels count as unprocessed."""
        self._lag_at = time.monotonic()
        for tp in self._consumer.assignment():
            high = self._consumer.highwater(tp)
            if high is None:   # not fetched yet
                continue
            try:
                position = self._consumer.position(tp, timeout_ms=0)
            except KafkaError:
                continue
            if position is not None:
                lag = max(0, high - position) + self.router.held(tp.topic, tp.partition)
                self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(lag)
                self._lag_reported.add(tp)

    def _forget_moved_metrics(self, assigned: set[TopicPartition]) -> None:
        """After a rebalance, drop what this instance reported for partitions and models it no longer holds:
        their new owner reports them, and a stale copy here would keep, say, a resolved drift active."""
        for tp in self._lag_reported - assigned:
            self.metrics.consumer_lag.remove(tp.topic, str(tp.partition))
        self._lag_reported &= assigned
        held = {model for state in self.router.partitions.values() for model in state.monitors}
        self.metrics.forget_models(self._released_models - held)
        self._released_models.clear()

    def _upstream_read(self, partition: int) -> bool:
        """Whether the partition's predictions and features have no record left to read (labels wait on them)."""
        topics = self.config.topics
        return not (self._unread(TopicPartition(topics.predictions, partition))
                    or self._unread(TopicPartition(topics.features, partition)))

    def _unread(self, tp: TopicPartition) -> bool:
        """Whether tp may hold records the consumer has not returned yet: unknown counts as yes (before
        its first fetch, the predictions of a partition are not known to be read)."""
        high = self._consumer.highwater(tp)
        try:
            position = self._consumer.position(tp, timeout_ms=0)
        except KafkaError:
            return True
        return high is None or position is None or position < high

    def checkpoint(self, rewind: bool = True, in_rebalance: bool = False) -> None:
        """Checkpoint every partition held (the transaction carries all their outputs); on failure,
        rewind to the last checkpoint unless the partitions are being given up anyway."""
        if not self._checkpointer.commit(self.router.snapshots(), in_rebalance=in_rebalance) and rewind:
            self._checkpointer.restore(self.router, list(self._consumer.assignment()), rewind=True)

    def _revoked(self, numbers: set[int]) -> None:
        """Revocation: a final checkpoint, then forget, so the next owner starts exactly here."""
        if self._checkpointer is None:   # closing: the last checkpoint is done
            return
        if numbers & set(self.router.partitions):
            self.checkpoint(rewind=False, in_rebalance=True)
        self._released_models |= {m for n in numbers if n in self.router.partitions
                                  for m in self.router.partitions[n].monitors}
        self.router.release(numbers)
        self._checkpointer.forget(numbers)

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        if self._consumer is not None:
            self._consumer.close(autocommit=False)
            self._consumer = None
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server = None
