"""The monitor service: consume a batch, decode it, feed each model's monitors, publish alerts, commit."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Callable

from kafka import TopicPartition
from prometheus_client import CollectorRegistry, start_http_server

from stream.codec import BatchDecoder, encode
from stream.config import Config
from stream.events import DriftAlert, FeatureEvent, LabelEvent, PredictionEvent
from stream.kafka_clients import ensure_topics, make_consumer, make_producer
from stream.metrics import ServiceMetrics

from .dead_letter import DeadLetters
from .monitor import Batch, ModelMonitor

log = logging.getLogger(__name__)

EVENT_TYPES = {"features": FeatureEvent, "predictions": PredictionEvent, "labels": LabelEvent}


class MonitorService:
    """At-least-once: alerts and dead letters are flushed before the batch's offsets are committed."""

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
        self.monitors = {m.model_id: ModelMonitor(m, config.alerts, self.metrics) for m in config.models}
        self._stop = threading.Event()
        self._consumer = None
        self._producer = None
        self._dead = None
        self.batches = 0

    # -- lifecycle --------------------------------------------------------------------------------
    def stop(self, *_: object) -> None:
        """Ask the loop to finish its batch, commit and close (safe from a signal handler)."""
        self._stop.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def serve_metrics(self) -> int:
        """Start the /metrics HTTP endpoint; returns the bound port (useful when configured as 0)."""
        server, _thread = start_http_server(self.config.metrics.port, self.config.metrics.host,
                                            registry=self.registry)
        self._metrics_server = server
        return server.server_address[1]

    def connect(self) -> None:
        cfg = self.config
        ensure_topics(cfg.kafka, cfg.topics)
        self._producer = make_producer(cfg.kafka)
        self._consumer = make_consumer(
            cfg.kafka,
            group_id=cfg.consumer.group_id,
            enable_auto_commit=False,
            auto_offset_reset=cfg.consumer.auto_offset_reset,
            max_poll_records=cfg.consumer.max_poll_records,
            # Oversized messages must reach us to be dead-lettered, not stall the fetch.
            max_partition_fetch_bytes=max(1_048_576, cfg.consumer.max_message_bytes * 2),
        )
        self._consumer.subscribe(list(self.roles))
        self._dead = DeadLetters(self._producer, cfg.topics.dead_letter, self.metrics)

    def run(self) -> None:
        """Consume until stop(); then commit what was processed and close the clients."""
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
                    self._producer.flush()
                    self._consumer.commit()
        finally:
            self.metrics.up.set(0)
            self.close()

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush()
            self._producer.close()
            self._producer = None
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
        server = getattr(self, "_metrics_server", None)
        if server is not None:
            server.shutdown()
            self._metrics_server = None

    # -- one batch --------------------------------------------------------------------------------
    def process(self, records: dict[TopicPartition, list]) -> list[DriftAlert]:
        started = time.perf_counter()
        alerts: list[DriftAlert] = []
        size = 0
        for tp, messages in records.items():
            size += len(messages)
            alerts += self._process_partition(tp, messages)
        for alert in alerts:
            self._producer.send(self.config.topics.alerts, key=alert.model_id.encode(), value=encode(alert))
            self.metrics.alerts.labels(alert.model_id, alert.kind, alert.signal, alert.severity).inc()
            log.info("ALERT %s", alert.line())
            if self.on_alert:
                self.on_alert(alert)
        self.batches += 1
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
            monitor = self.monitors.get(model_id)
            if monitor is None:
                for j in js:
                    self._dead.send(messages[decoded.indices[j]], "unknown_model",
                                    f"model_id {model_id!r} is not in the configuration's models")
                continue
            events = [decoded.events[j] for j in js]
            batch = Batch(tp.topic, tp.partition, [messages[decoded.indices[j]].offset for j in js],
                          [e.timestamp for e in events])
            self.metrics.events.labels(role, model_id).inc(len(events))
            observe = {"features": monitor.observe_features, "predictions": monitor.observe_predictions,
                       "labels": monitor.observe_labels}[role]
            alerts += observe(events, batch)
        return alerts
