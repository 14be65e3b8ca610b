"""Every Prometheus metric the service exports, built once against an injected registry."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

import numpy as np
from prometheus_client import (CollectorRegistry, Counter, GCCollector, Gauge, Histogram, PlatformCollector,
                               ProcessCollector)
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.utils import floatToGoString

from .codec import REASONS
from .config import Config

PREFIX = "streamdrift_"
# From publish to processed: a healthy service is under a few seconds; a backlog shows in the upper buckets.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


class BatchHistogram:
    """A histogram fed a whole batch of observations at once: per-record latencies on the hot path, where
    prometheus_client's Histogram would take a lock per observation. Exported as a plain histogram."""

    def __init__(self, name: str, documentation: str, buckets: Iterable[float], registry: CollectorRegistry):
        self.name = name
        self.documentation = documentation
        self._bounds = np.asarray(sorted(buckets), dtype=float)
        self._counts = np.zeros(len(self._bounds) + 1, dtype=np.int64)   # the last one is +Inf
        self._sum = 0.0
        self._lock = threading.Lock()
        registry.register(self)

    def observe_many(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=float)
        if values.size == 0:
            return
        # side="left": a value equal to a bound belongs to that bound's bucket (le means <=).
        counts = np.bincount(np.searchsorted(self._bounds, values, side="left"), minlength=len(self._counts))
        with self._lock:
            self._counts += counts
            self._sum += float(values.sum())

    def collect(self):
        with self._lock:
            cumulative, total = np.cumsum(self._counts), self._sum
        bounds = [floatToGoString(b) for b in self._bounds] + ["+Inf"]
        yield HistogramMetricFamily(self.name, self.documentation, buckets=list(zip(bounds, cumulative.tolist())),
                                    sum_value=total)

    def describe(self):
        yield HistogramMetricFamily(self.name, self.documentation)


SIGNAL = ("model", "signal", "scope")   # scope: all, version=V or a segment such as country=BR


class ServiceMetrics:
    """Label sets are bounded by configuration, never by data values: models x signals x detectors, and
    scopes bounded by versions.max_live and segment_top_k, classes by performance.max_classes."""

    def __init__(self, registry: CollectorRegistry):
        self.registry = registry
        self._per_model: list[tuple[Gauge, tuple[str, ...]]] = []   # gauges that describe a model's current state
        self._latest_event_time: dict[str, float] = {}             # model -> Unix time of its latest event

        def counter(name: str, doc: str, labels: tuple[str, ...]) -> Counter:
            return Counter(PREFIX + name, doc, labels, registry=registry)

        self.events = counter("events_total", "Valid events consumed, by topic role and model.", ("role", "model"))
        self.dead_letters = counter("dead_letters_total", "Messages sent to the dead-letter topic, by reason.", ("reason",))
        self.alerts = counter("alerts_total", "Alerts published (drifting and resolved).",
                              ("model", "kind", "signal", "severity"))
        self.detector_events = counter("detector_events_total", "Values fed to a detector.", (*SIGNAL, "detector"))
        self.detections = counter("detections_total", "Detector firings (a drifting signal alerts once).",
                                  (*SIGNAL, "detector"))
        self.missing = counter("feature_missing_total", "Events where a configured feature was absent or null.",
                               ("model", "feature"))
        self.out_of_range = counter("feature_out_of_range_total", "Values outside the configured range.",
                                    ("model", "feature"))
        self.wrong_type = counter("feature_wrong_type_total", "Values of the wrong type for the feature.",
                                  ("model", "feature"))
        self.unseen_categories = counter("feature_unseen_categories_total",
                                         "Categorical values never seen in the reference.", ("model", "feature"))
        self.labels_joined = counter("labels_joined_total", "Labels matched to a prediction.", ("model",))
        self.labels_orphaned = counter("labels_orphaned_total",
                                       "Labels whose prediction never came, or came too late (labels.ttl_seconds).",
                                       ("model",))
        self.predictions_unlabelled = counter("predictions_unlabelled_total",
                                              "Predictions whose label did not come within labels.ttl_seconds.",
                                              ("model",))
        self.label_lag = Histogram(PREFIX + "label_lag_seconds", "Event time from a prediction to its label.",
                                   ("model",), registry=registry,
                                   buckets=(1, 10, 60, 300, 900, 3600, 6 * 3600, 86_400, 3 * 86_400, 7 * 86_400))

        def gauge(name: str, doc: str, labels: tuple[str, ...]) -> Gauge:
            made = Gauge(PREFIX + name, doc, labels, registry=registry)
            if "model" in labels:
                self._per_model.append((made, labels))
            return made

        self.statistic = gauge("drift_statistic", "Latest detector statistic.", (*SIGNAL, "detector"))
        self.threshold = gauge("drift_threshold", "Threshold the statistic is compared with.", (*SIGNAL, "detector"))
        self.drift_active = gauge("drift_active", "1 while the signal is drifting, else 0.", SIGNAL)
        self.label_coverage = gauge("label_coverage", "Share of expired predictions that got their label in time.",
                                    ("model",))
        self.accuracy = gauge("model_accuracy", "Rolling accuracy over joined labels.", ("model", "model_version"))
        self.estimated_accuracy = gauge("estimated_accuracy", "Accuracy of the champion estimated from its confidence "
                                        "over the latest window (river.estimated_accuracy), before labels arrive.",
                                        ("model", "model_version"))
        self.anomaly_rate = gauge("anomaly_rate", "Share of the scored events of the latest river.anomalies window "
                                  "whose HalfSpaceTrees score is above the reference's quantile.", ("model",))
        self.performance = gauge("performance", "Rolling performance (accuracy, macro_f1, mae, rmse, ...) per scope.",
                                 ("model", "scope", "metric"))
        self.class_performance = gauge("class_performance", "Rolling precision, recall, f1 and support per class.",
                                       ("model", "scope", "class", "metric"))
        self.reference_loaded = gauge("reference_profile_loaded",
                                      "1 when a model with reference: training found its published profile.", ("model",))
        self.version_events = counter("version_predictions_total", "Predictions per model version (others pooled).",
                                      ("model", "model_version"))
        self.batch_seconds = Histogram(
            PREFIX + "batch_duration_seconds", "Time to process one polled batch.", registry=registry,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.batch_size = Histogram(PREFIX + "batch_events", "Messages per polled batch.", registry=registry,
                                    buckets=(1, 10, 100, 500, 1000, 2000, 5000, 10000))
        self.checkpoints = counter("checkpoints_total", "Partition snapshots committed.", ())
        self.checkpoint_failures = counter("checkpoint_failures_total",
                                           "Checkpoints that failed (aborted, then rewound or retried).", ())
        self.checkpoint_seconds = Histogram(
            PREFIX + "checkpoint_duration_seconds", "Time to commit one checkpoint.", registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.up = Gauge(PREFIX + "up", "1 while the service's consume loop runs.", registry=registry)

        # Operating the service: how far behind it is, and what it costs (process_*, python_*).
        self.consumer_lag = gauge("consumer_lag_records", "Records of a partition not yet processed: its high "
                                  "watermark minus the consumer's position, plus labels held back.",
                                  ("topic", "partition"))
        self.event_time_lag = gauge("event_time_lag_seconds", "Now (at scrape time) minus the event time of the "
                                    "model's latest processed event: grows when the service falls behind or the "
                                    "model stops sending.", ("model",))
        self.end_to_end_latency = BatchHistogram(
            PREFIX + "end_to_end_latency_seconds", "From a record's Kafka timestamp (its publication, unless the "
            "producer set it) to the end of the processing of the batch that fetched it.", LATENCY_BUCKETS, registry)
        ProcessCollector(registry=registry)    # process_resident_memory_bytes, process_cpu_seconds_total, ...
        PlatformCollector(registry=registry)   # python_info
        GCCollector(registry=registry)         # python_gc_*

    def declare(self, config: Config) -> None:
        """Start the counters of every configured model and feature at 0, so that "no events for 15 minutes"
        and rates of zero are visible from the start (a series that was never incremented is missing)."""
        for model in config.models:
            mid = model.model_id
            for role in config.topics.data_roles().values():
                self.events.labels(role, mid)
            for feature in model.features:
                for counter in (self.missing, self.out_of_range, self.wrong_type):
                    counter.labels(mid, feature.name)
                if feature.type == "categorical":
                    self.unseen_categories.labels(mid, feature.name)
            if model.prediction is not None:
                for counter in (self.labels_joined, self.labels_orphaned, self.predictions_unlabelled):
                    counter.labels(mid)
        for reason in REASONS:
            self.dead_letters.labels(reason)

    def saw_event_time(self, model_id: str, unix_time: float) -> None:
        """The latest event time processed for a model; its event-time lag is computed when scraped."""
        if unix_time <= self._latest_event_time.get(model_id, float("-inf")):
            return
        first = model_id not in self._latest_event_time
        self._latest_event_time[model_id] = unix_time
        if first:
            latest = self._latest_event_time
            self.event_time_lag.labels(model_id).set_function(
                lambda: time.time() - latest.get(model_id, float("nan")))

    def forget_models(self, model_ids: set[str]) -> None:
        """Drop the gauges of models this instance no longer owns (their partition moved to another instance,
        which reports them now); counters stay, since they count what this instance processed."""
        if not model_ids:
            return
        for gauge, labels in self._per_model:
            at = labels.index("model")
            for sample in list(gauge.collect()[0].samples):
                values = tuple(sample.labels[name] for name in labels)
                if values[at] in model_ids:
                    gauge.remove(*values)
        for model_id in model_ids:
            self._latest_event_time.pop(model_id, None)
