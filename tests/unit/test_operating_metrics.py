"""The metrics an operator runs the service by: lag, latency, process resources, series that exist from the start."""

from __future__ import annotations

import time

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from stream.codec import REASONS
from stream.config import Config
from stream.metrics import LATENCY_BUCKETS, BatchHistogram, ServiceMetrics

CONFIG = Config.model_validate({"models": [
    {"model_id": "m", "features": [{"name": "x"}, {"name": "c", "type": "categorical"}],
     "prediction": {"type": "categorical"}},
    {"model_id": "quiet", "features": [{"name": "y"}]},
]})


def test_a_batch_histogram_exports_what_a_histogram_fed_one_by_one_exports():
    values = np.concatenate([np.random.default_rng(1).exponential(3.0, 5000), LATENCY_BUCKETS, [0.0, 1e9]])
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    batched = BatchHistogram("lat_seconds", "latency", LATENCY_BUCKETS, ours)
    for chunk in np.array_split(values, 7):
        batched.observe_many(chunk)
    batched.observe_many(np.array([]))
    reference = Histogram("lat_seconds", "latency", registry=theirs, buckets=LATENCY_BUCKETS)
    for v in values:
        reference.observe(v)
    for bound in [*LATENCY_BUCKETS, float("inf")]:
        le = "+Inf" if bound == float("inf") else str(float(bound))
        assert ours.get_sample_value("lat_seconds_bucket", {"le": le}) == theirs.get_sample_value(
            "lat_seconds_bucket", {"le": le}), le
    assert ours.get_sample_value("lat_seconds_count") == len(values)
    assert ours.get_sample_value("lat_seconds_sum") == pytest.approx(theirs.get_sample_value("lat_seconds_sum"))
    assert b"# TYPE lat_seconds histogram" in generate_latest(ours)


def test_process_memory_and_cpu_are_on_the_injected_registry():
    registry = CollectorRegistry()
    ServiceMetrics(registry)
    assert registry.get_sample_value("process_resident_memory_bytes") > 10_000_000
    assert registry.get_sample_value("process_cpu_seconds_total") > 0
    exported = generate_latest(registry).decode()
    assert "\npython_info{" in exported and "\npython_gc_objects_collected_total{" in exported
    ServiceMetrics(CollectorRegistry())   # a second service in the same process gets its own, without conflict


def test_configured_models_and_features_read_zero_before_any_event():
    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry)
    assert registry.get_sample_value("streamdrift_events_total", {"role": "features", "model": "quiet"}) is None
    metrics.declare(CONFIG)
    value = registry.get_sample_value
    for model in ("m", "quiet"):
        for role in ("features", "predictions", "labels"):
            assert value("streamdrift_events_total", {"role": role, "model": model}) == 0
    assert value("streamdrift_feature_missing_total", {"model": "m", "feature": "x"}) == 0
    assert value("streamdrift_feature_unseen_categories_total", {"model": "m", "feature": "c"}) == 0
    assert value("streamdrift_feature_unseen_categories_total", {"model": "m", "feature": "x"}) is None  # numeric
    assert value("streamdrift_labels_joined_total", {"model": "m"}) == 0
    assert value("streamdrift_labels_joined_total", {"model": "quiet"}) is None   # no predictions, no labels
    assert all(value("streamdrift_dead_letters_total", {"reason": r}) == 0 for r in REASONS)


def test_event_time_lag_is_computed_when_scraped_and_only_moves_forward():
    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry)
    now = time.time()
    metrics.saw_event_time("m", now - 30)
    metrics.saw_event_time("m", now - 100)   # an older event processed later does not move it back
    first = registry.get_sample_value("streamdrift_event_time_lag_seconds", {"model": "m"})
    assert 30 <= first < 40
    time.sleep(0.05)
    assert registry.get_sample_value("streamdrift_event_time_lag_seconds", {"model": "m"}) > first


def test_forgetting_a_model_drops_its_gauges_but_not_its_counters_or_other_models():
    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry)
    for model in ("gone", "kept"):
        metrics.drift_active.labels(model, "x", "all").set(1)
        metrics.performance.labels(model, "version=v1", "accuracy").set(0.9)
        metrics.events.labels("features", model).inc(5)
        metrics.saw_event_time(model, time.time())
    metrics.forget_models({"gone"})
    value = registry.get_sample_value
    assert value("streamdrift_drift_active", {"model": "gone", "signal": "x", "scope": "all"}) is None
    assert value("streamdrift_performance", {"model": "gone", "scope": "version=v1", "metric": "accuracy"}) is None
    assert value("streamdrift_event_time_lag_seconds", {"model": "gone"}) is None
    assert value("streamdrift_events_total", {"role": "features", "model": "gone"}) == 5
    assert value("streamdrift_drift_active", {"model": "kept", "signal": "x", "scope": "all"}) == 1
    assert value("streamdrift_event_time_lag_seconds", {"model": "kept"}) is not None
    metrics.saw_event_time("gone", time.time())   # taken back on a later assignment: reported again
    assert value("streamdrift_event_time_lag_seconds", {"model": "gone"}) is not None


def test_the_operations_guide_describes_every_metric_the_service_exports():
    from pathlib import Path

    guide = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    registry = CollectorRegistry()
    ServiceMetrics(registry).declare(CONFIG)
    names = {m.name + ("_total" if m.type == "counter" else "") for m in registry.collect()}
    assert len(names) > 35
    undocumented = sorted(n for n in names if n.startswith("streamdrift_") and f"`{n}`" not in guide)
    assert not undocumented, f"docs/operations.md does not describe {undocumented}"
