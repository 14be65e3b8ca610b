"""ModelMonitor without Kafka: a drifting feature alerts, stable ones do not, labels join, quality is judged."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from consumers.alerts import Batch, Cooldown, EventRef, alert_id
from consumers.columns import numeric_column, numeric_matrix
from consumers.model_monitor import ModelMonitor
from stream.config import AlertPolicy, FeatureConfig, ModelConfig
from stream.events import FeatureEvent, LabelEvent, PredictionEvent
from stream.metrics import ServiceMetrics

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
MODEL = ModelConfig(model_id="m", features=(FeatureConfig(name="moves"), FeatureConfig(name="still"),
                                            FeatureConfig(name="city", type="categorical")))


def feature_batches(n_batches: int, size: int, drift_at: int, seed: int):
    rng = np.random.default_rng(seed)
    offset = 0
    for b in range(n_batches):
        events = []
        for _ in range(size):
            drifted = offset >= drift_at
            events.append(FeatureEvent(
                event_id=str(offset), model_id="m", timestamp=T0 + timedelta(seconds=offset),
                features={"moves": float(rng.normal(1.0 if drifted else 0.0, 1.0)),
                          "still": float(rng.lognormal()), "city": str(rng.choice(["a", "b", "c"]))}))
            offset += 1
        yield events, Batch("features", 0, list(range(offset - size, offset)), [e.timestamp for e in events])


def run(seed: int = 3):
    monitor = ModelMonitor(MODEL, AlertPolicy(), ServiceMetrics(CollectorRegistry()))
    alerts = []
    for events, batch in feature_batches(12, 1000, 6000, seed):
        alerts += monitor.observe_features(events, batch)[0]
    return monitor, alerts


def test_only_the_drifting_feature_alerts_and_only_after_the_drift():
    _, alerts = run()
    assert {a.signal for a in alerts} == {"moves"}, [a.line() for a in alerts]
    assert all(a.window.last_offset >= 6000 for a in alerts)
    drifting = [a for a in alerts if a.status == "drifting"]
    assert len(drifting) == 1 and drifting[0].statistic >= drifting[0].threshold
    # A rolling reference relearns after the firing: once quiet for resolve_after_values, it is resolved.
    resolved = [a for a in alerts if a.status == "resolved"]
    assert [a.severity for a in resolved] == ["info"]
    assert resolved[0].window.last_offset - drifting[0].window.last_offset == AlertPolicy().resolve_after_values


def test_alert_ids_are_deterministic_across_runs():
    _, first = run()
    _, second = run()
    assert [a.alert_id for a in first] == [a.alert_id for a in second] != []
    ref = EventRef("t", 0, 5, T0)
    assert alert_id("m", "x", "ks", ref) == alert_id("m", "x", "ks", ref) != alert_id("m", "x", "ks",
                                                                                        EventRef("t", 0, 6, T0))


def test_cooldown_lets_one_alert_through_per_quiet_period():
    cooldown = Cooldown(60)
    assert cooldown.allow("x", "ks", T0)
    assert not cooldown.allow("x", "ks", T0 + timedelta(seconds=59))
    assert cooldown.allow("y", "ks", T0 + timedelta(seconds=1)), "signals cool down independently"
    assert cooldown.allow("x", "ks", T0 + timedelta(seconds=61))


def test_numeric_column_separates_missing_out_of_range_and_wrong_type():
    feature = FeatureConfig(name="x", min=0, max=10)
    raw = [1.0, None, 11.0, "text", True, 5.0, -1.0]
    col = numeric_matrix([{"x": v} for v in raw], ["x"])[:, 0]
    column = numeric_column(col, feature)
    assert column.values.tolist() == [1.0, 1.0, 5.0], "true counts as 1"
    assert column.rows.tolist() == [0, 4, 5]
    assert column.missing.tolist() == [False, True, False, False, False, False, False]
    assert column.out_of_range.tolist() == [False, False, True, False, False, False, True]
    assert column.wrong_type.tolist() == [False, False, False, True, False, False, False]


def test_a_number_sent_as_a_string_is_the_wrong_type_even_on_the_fast_path():
    feature = FeatureConfig(name="x")
    col = numeric_matrix([{"x": 1.0}, {"x": "2.5"}, {"x": 3}], ["x"])[:, 0]
    column = numeric_column(col, feature)
    assert column.values.tolist() == [1.0, 3.0]
    assert column.wrong_type.tolist() == [False, True, False]


def test_numeric_matrix_fast_and_slow_paths_agree():
    names = ["a", "b", "c"]
    full = [{"a": 1.0, "b": 2.0, "c": 3.0}, {"a": 4.0, "b": 5.0, "c": 6.0}]
    assert numeric_matrix(full, names).tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    ragged = [{"a": 1.0, "c": "x"}, {"a": None, "b": 5.0, "c": 6.0, "extra": "ignored"}]
    got = numeric_matrix(ragged, names)
    assert np.isnan(got[0, 1]) and np.isinf(got[0, 2]) and np.isnan(got[1, 0])
    assert got[1, 1:].tolist() == [5.0, 6.0]
    assert numeric_matrix(full, ["b"]).tolist() == [[2.0], [5.0]]


def test_a_feature_that_goes_missing_raises_a_data_quality_alert():
    model = ModelConfig(model_id="m", features=(FeatureConfig(name="x", max_missing_rate=0.05),))
    monitor = ModelMonitor(model, AlertPolicy(), ServiceMetrics(CollectorRegistry()))
    events = [FeatureEvent(event_id=str(i), model_id="m", timestamp=T0,
                           features={"x": None if i % 5 == 0 else 1.0}) for i in range(1000)]
    # Split unevenly: the verdict falls on the 1000th event whatever the batch edges.
    alerts = monitor.observe_features(events[:333], Batch("f", 0, list(range(333)), [T0] * 333))[0]
    alerts += monitor.observe_features(events[333:], Batch("f", 0, list(range(333, 1000)), [T0] * 667))[0]
    assert [(a.kind, a.signal, a.detector) for a in alerts] == [("data_quality", "x", "missing")]
    assert alerts[0].statistic == pytest.approx(0.2)
    assert (alerts[0].window.first_offset, alerts[0].window.last_offset) == (0, 999)


def test_labels_join_predictions_and_a_rising_error_rate_is_concept_drift():
    from stream.config import PredictionConfig

    model = ModelConfig(model_id="m", prediction=PredictionConfig(type="categorical"))
    registry = CollectorRegistry()
    monitor = ModelMonitor(model, AlertPolicy(), ServiceMetrics(registry))
    rng = np.random.default_rng(0)
    alerts = []
    for b in range(20):
        n = 500
        start = b * n
        times = [T0 + timedelta(seconds=start + i) for i in range(n)]
        preds = [PredictionEvent(event_id=str(start + i), model_id="m", model_version="v1", timestamp=times[i],
                                 prediction=str(rng.choice(["yes", "no"]))) for i in range(n)]
        error_rate = 0.05 if b < 10 else 0.4
        labels = [LabelEvent(event_id=p.event_id, model_id="m", timestamp=p.timestamp,
                             label=p.prediction if rng.random() > error_rate else ("no" if p.prediction == "yes" else "yes"))
                  for p in preds]
        batch = Batch("p", 0, list(range(start, start + n)), times)
        alerts += monitor.observe_predictions(preds, batch)[0]
        alerts += monitor.observe_labels(labels, batch)[0]
    concept = [a for a in alerts if a.kind == "concept_drift"]
    assert concept and all(a.window.last_offset >= 5000 for a in concept), [a.line() for a in alerts]
    assert concept[0].model_version == "v1"
    assert registry.get_sample_value("streamdrift_labels_joined_total", {"model": "m"}) == 10_000
    assert registry.get_sample_value("streamdrift_model_accuracy", {"model": "m", "model_version": "v1"}) < 0.8


def test_a_label_that_overtakes_its_prediction_still_joins():
    from stream.config import PredictionConfig

    registry = CollectorRegistry()
    monitor = ModelMonitor(ModelConfig(model_id="m", prediction=PredictionConfig(type="categorical")),
                           AlertPolicy(), ServiceMetrics(registry))
    labels = [LabelEvent(event_id=str(i), model_id="m", timestamp=T0, label="yes") for i in range(10)]
    preds = [PredictionEvent(event_id=str(i), model_id="m", model_version="v2", timestamp=T0,
                             prediction="yes" if i < 8 else "no") for i in range(10)]
    monitor.observe_labels(labels, Batch("l", 0, list(range(10)), [T0] * 10))
    monitor.observe_predictions(preds, Batch("p", 0, list(range(10)), [T0] * 10))
    assert registry.get_sample_value("streamdrift_labels_joined_total", {"model": "m"}) == 10
    assert registry.get_sample_value("streamdrift_model_accuracy", {"model": "m", "model_version": "v2"}) == 0.8


def test_wrong_types_and_unseen_categories_are_counted_and_alerted():
    model = ModelConfig(model_id="m", features=(FeatureConfig(name="x"), FeatureConfig(name="c", type="categorical")))
    registry = CollectorRegistry()
    monitor = ModelMonitor(model, AlertPolicy(), ServiceMetrics(registry))
    events = [FeatureEvent(event_id=str(i), model_id="m", timestamp=T0,
                           features={"x": "oops" if i % 10 == 0 else 1.0,
                                     "c": "new" if i >= 1500 and i % 4 == 0 else "a"}) for i in range(2000)]
    alerts, _ = monitor.observe_features(events, Batch("f", 0, list(range(2000)), [T0] * 2000))
    assert registry.get_sample_value("streamdrift_feature_wrong_type_total", {"model": "m", "feature": "x"}) == 200
    assert registry.get_sample_value("streamdrift_feature_out_of_range_total", {"model": "m", "feature": "x"}) is None
    assert registry.get_sample_value("streamdrift_feature_unseen_categories_total",
                                     {"model": "m", "feature": "c"}) == 125
    assert ("data_quality", "x", "wrong_type") in {(a.kind, a.signal, a.detector) for a in alerts}


def test_predictions_without_inline_features_do_not_count_as_missing_features():
    from stream.config import PredictionConfig

    model = ModelConfig(model_id="m", features=(FeatureConfig(name="x"),), prediction=PredictionConfig())
    registry = CollectorRegistry()
    monitor = ModelMonitor(model, AlertPolicy(), ServiceMetrics(registry))
    preds = [PredictionEvent(event_id=str(i), model_id="m", timestamp=T0, prediction=0.5,
                             features={"x": 1.0} if i % 2 else None) for i in range(2000)]
    alerts, _ = monitor.observe_predictions(preds, Batch("p", 0, list(range(2000)), [T0] * 2000))
    assert registry.get_sample_value("streamdrift_feature_missing_total", {"model": "m", "feature": "x"}) is None
    assert registry.get_sample_value("streamdrift_detector_events_total",
                                     {"model": "m", "signal": "x", "scope": "all", "detector": "ks"}) == 1000
    assert not [a for a in alerts if a.kind == "data_quality"]
