"""Every Prometheus metric the service exports, built once against an injected registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

PREFIX = "streamdrift_"


SIGNAL = ("model", "signal", "scope")   # scope: all, version=V or a segment such as country=BR


class ServiceMetrics:
    """Label sets are bounded by configuration, never by data values: models x signals x detectors, and
    scopes bounded by versions.max_live and segment_top_k, classes by performance.max_classes."""

    def __init__(self, registry: CollectorRegistry):
        self.registry = registry

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
            return Gauge(PREFIX + name, doc, labels, registry=registry)

        self.statistic = gauge("drift_statistic", "Latest detector statistic.", (*SIGNAL, "detector"))
        self.threshold = gauge("drift_threshold", "Threshold the statistic is compared with.", (*SIGNAL, "detector"))
        self.drift_active = gauge("drift_active", "1 while the signal is drifting, else 0.", SIGNAL)
        self.label_coverage = gauge("label_coverage", "Share of expired predictions that got their label in time.",
                                    ("model",))
        self.accuracy = gauge("model_accuracy", "Rolling accuracy over joined labels.", ("model", "model_version"))
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
