"""Every Prometheus metric the service exports, built once against an injected registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

PREFIX = "streamdrift_"


class ServiceMetrics:
    """Label sets are bounded by configuration (models x signals x detectors), never by data values."""

    def __init__(self, registry: CollectorRegistry):
        self.registry = registry

        def counter(name: str, doc: str, labels: tuple[str, ...]) -> Counter:
            return Counter(PREFIX + name, doc, labels, registry=registry)

        self.events = counter("events_total", "Valid events consumed, by topic role and model.", ("role", "model"))
        self.dead_letters = counter("dead_letters_total", "Messages sent to the dead-letter topic, by reason.", ("reason",))
        self.alerts = counter("alerts_total", "Drift alerts published.", ("model", "kind", "signal", "severity"))
        self.detector_events = counter(
            "detector_events_total", "Values fed to a detector.", ("model", "signal", "detector"))
        self.detections = counter(
            "detections_total", "Detector firings, before alert cooldown.", ("model", "signal", "detector"))
        self.missing = counter("feature_missing_total", "Events where a configured feature was absent or null.",
                               ("model", "feature"))
        self.out_of_range = counter("feature_out_of_range_total", "Values outside the configured range.",
                                    ("model", "feature"))
        self.wrong_type = counter("feature_wrong_type_total", "Values of the wrong type for the feature.",
                                  ("model", "feature"))
        self.unseen_categories = counter("feature_unseen_categories_total",
                                         "Categorical values never seen in the reference.", ("model", "feature"))
        self.labels_joined = counter("labels_joined_total", "Labels matched to a prediction.", ("model",))
        self.statistic = Gauge(PREFIX + "drift_statistic", "Latest detector statistic.",
                               ("model", "signal", "detector"), registry=registry)
        self.threshold = Gauge(PREFIX + "drift_threshold", "Threshold the statistic is compared with.",
                               ("model", "signal", "detector"), registry=registry)
        self.accuracy = Gauge(PREFIX + "model_accuracy", "Rolling accuracy over joined labels.",
                              ("model", "model_version"), registry=registry)
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
