"""Deployed models, without a broker: versions side by side, segments, the lifecycle of a drift.

The scripted checks of the model-monitoring issue, through the same router the service runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
from prometheus_client import CollectorRegistry

from consumers.router import Record, Router
from stream.codec import encode
from stream.config import AlertPolicy, Config
from stream.events import FeatureEvent, LabelEvent, PredictionEvent
from stream.metrics import ServiceMetrics

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
CLASSES = np.array(["approve", "review", "decline"], dtype=object)


def config(**model) -> Config:
    return Config.model_validate({"models": [{"model_id": "m", "prediction": {"type": "categorical"}, **model}]})


def traffic(n: int, seed: int, canary_share, canary_error: float = 0.15, champion_error: float = 0.05,
            segment_drift_from: int | None = None, segment_share: float = 0.05):
    """Predictions and labels of champion v1 and canary v2 (canary_share: a number, or a function of i).

    Segment country=BR (segment_share of the traffic) starts predicting mostly "decline" at
    segment_drift_from; everything else stays as it was.
    """
    rng = np.random.default_rng(seed)
    predictions, labels = [], []
    for i in range(n):
        share = canary_share(i) if callable(canary_share) else canary_share
        version = "v2" if rng.random() < share else "v1"
        country = "BR" if rng.random() < segment_share else str(rng.choice(["FR", "DE", "US", "IT"]))
        p = [0.6, 0.3, 0.1]
        if segment_drift_from is not None and i >= segment_drift_from and country == "BR":
            p = [0.1, 0.2, 0.7]
        prediction = str(rng.choice(CLASSES, p=p))
        wrong = rng.random() < (canary_error if version == "v2" else champion_error)
        label = str(rng.choice([c for c in CLASSES if c != prediction])) if wrong else prediction
        t = T0 + timedelta(seconds=i)
        predictions.append(PredictionEvent(event_id=f"e{i}", model_id="m", model_version=version, timestamp=t,
                                           prediction=prediction, segment={"country": country}))
        labels.append(LabelEvent(event_id=f"e{i}", model_id="m", timestamp=t + timedelta(seconds=30), label=label))
    return predictions, labels


def run(cfg: Config, predictions, labels, batch: int = 500, registry=None):
    router = Router(cfg, ServiceMetrics(registry or CollectorRegistry()))
    topics = cfg.topics
    recs = {topics.predictions: [Record(topics.predictions, 0, i, b"m", encode(e)) for i, e in enumerate(predictions)],
            topics.labels: [Record(topics.labels, 0, i, b"m", encode(e)) for i, e in enumerate(labels)]}
    alerts, statuses = [], []
    for s in range(0, len(predictions), batch):
        routed = router.route({(t, 0): r[s:s + batch] for t, r in recs.items()})
        alerts += routed.alerts
        statuses += routed.statuses
    return alerts, statuses, router


def test_a_canary_that_errs_three_times_as_often_alerts_within_2000_of_its_own_labels():
    predictions, labels = traffic(60_000, seed=1, canary_share=0.05)
    alerts, _, _ = run(config(versions={"champion": "v1"}), predictions, labels)
    worse = [a for a in alerts if a.kind == "performance"]
    assert [(a.signal, a.model_version, a.detector) for a in worse] == [("errors_vs_champion", "v2", "sequential_test")]
    canary_labels_before = sum(1 for p in predictions[:worse[0].window.last_offset + 1] if p.model_version == "v2")
    assert canary_labels_before <= 2_000, canary_labels_before
    assert not [a for a in alerts if a.model_version == "v1" and a.kind != "concept_drift"]


def test_an_equal_canary_raises_no_alert():
    predictions, labels = traffic(60_000, seed=2, canary_share=0.05, canary_error=0.05)
    alerts, _, _ = run(config(versions={"champion": "v1"}), predictions, labels)
    assert alerts == [], [a.line() for a in alerts]


def test_moving_the_split_from_5_to_50_percent_raises_no_prediction_drift():
    predictions, labels = traffic(40_000, seed=3, canary_share=lambda i: 0.05 if i < 20_000 else 0.5,
                                  canary_error=0.05)
    alerts, _, _ = run(config(), predictions, labels)
    assert [a for a in alerts if a.kind == "prediction_drift"] == [], [a.line() for a in alerts]


def test_a_drift_confined_to_a_segment_with_5_percent_of_traffic_alerts_on_that_segment():
    predictions, labels = traffic(60_000, seed=4, canary_share=0.0, segment_drift_from=30_000)
    alerts, statuses, _ = run(config(segments=["country"]), predictions, labels)
    drift = [a for a in alerts if a.kind == "prediction_drift" and a.status == "drifting"]
    assert [(a.segment, a.model_version) for a in drift] == [({"country": "BR"}, "v1")], [a.line() for a in alerts]
    assert drift[0].window.last_offset >= 30_000
    assert not [a for a in alerts if a.scope == "version=v1"], "the model-wide predictions hide it"
    assert any(s.scope == "country=BR" and s.state == "drifting" for s in statuses)


def test_any_batching_gives_the_same_alerts_with_versions_and_segments():
    predictions, labels = traffic(30_000, seed=5, canary_share=0.05, segment_drift_from=15_000)
    cfg = config(segments=["country"], versions={"champion": "v1"})
    expected = sorted(a.alert_id for a in run(cfg, predictions, labels, batch=1000)[0])
    assert expected
    assert sorted(a.alert_id for a in run(cfg, predictions, labels, batch=333)[0]) == expected


def test_performance_is_reported_per_version_and_per_class():
    registry = CollectorRegistry()
    predictions, labels = traffic(5_000, seed=6, canary_share=0.2)
    run(config(prediction={"type": "categorical", "positive_class": "decline"}), predictions, labels,
        registry=registry)
    v1 = registry.get_sample_value("streamdrift_performance", {"model": "m", "scope": "version=v1", "metric": "accuracy"})
    v2 = registry.get_sample_value("streamdrift_performance", {"model": "m", "scope": "version=v2", "metric": "accuracy"})
    assert 0.92 < v1 < 0.98 and 0.8 < v2 < 0.9
    support = registry.get_sample_value("streamdrift_class_performance",
                                        {"model": "m", "scope": "version=v1", "class": "decline", "metric": "support"})
    assert 50 < support < 200
    # Wrong answers land on the other classes evenly, so a rare class's recall is well below accuracy.
    recall = registry.get_sample_value("streamdrift_performance", {"model": "m", "scope": "version=v1",
                                                                   "metric": "positive_recall"})
    assert 0.7 < recall < 0.9
    assert registry.get_sample_value("streamdrift_label_coverage", {"model": "m"}) is not None


# -- a training reference: deployed onto drifted traffic, and a drift with an end --------------------
def feature_stream(n: int, shift_from: int, shift_to: int, seed: int, start: int = 0):
    """x is N(0,1) except on [shift_from, shift_to), where it is N(0.8, 1); colour never changes."""
    rng = np.random.default_rng(seed)
    events = []
    for i in range(start, start + n):
        x = rng.normal(0.8 if shift_from <= i < shift_to else 0.0)
        events.append(FeatureEvent(event_id=f"f{i}", model_id="m", timestamp=T0 + timedelta(seconds=i),
                                   features={"x": float(x), "colour": str(rng.choice(["red", "blue"]))}))
    return events


def trained(events) -> dict:
    from stream.profile_build import build_profile

    model = TRAINING.models[0]
    profile = build_profile(model, events, built_at=T0)
    return {("m", None): profile}


TRAINING = Config.model_validate({"models": [{"model_id": "m", "reference": "training", "features": [
    {"name": "x"}, {"name": "colour", "type": "categorical"}]}]})


def run_features(cfg: Config, events, profiles: dict, batch: int = 400):
    router = Router(cfg, ServiceMetrics(CollectorRegistry()))
    router.profiles.update(profiles)
    topic = cfg.topics.features
    records = [Record(topic, 0, i, b"m", encode(e)) for i, e in enumerate(events)]
    alerts, statuses = [], []
    for s in range(0, len(records), batch):
        routed = router.route({(topic, 0): records[s:s + batch]})
        alerts += routed.alerts
        statuses += routed.statuses
    return alerts, statuses


def test_a_model_deployed_onto_drifted_traffic_alerts_within_its_first_1000_events():
    profiles = trained(feature_stream(20_000, 0, 0, seed=7))
    live = feature_stream(5_000, 0, 5_000, seed=8)          # drifted from the very first event
    alerts, _ = run_features(TRAINING, live, profiles)
    x = [a for a in alerts if a.signal == "x"]
    assert x and x[0].status == "drifting" and x[0].window.last_offset < 1_000, [a.line() for a in alerts]
    assert not [a for a in alerts if a.signal == "colour"]
    # The same traffic with a rolling reference learns the drifted data as normal: no alert at all.
    rolling = TRAINING.model_copy(update={"models": (TRAINING.models[0].model_copy(update={"reference": "rolling"}),)})
    assert [a for a in run_features(rolling, live, {})[0] if a.signal == "x"] == []


def test_a_lasting_drift_stays_drifting_then_is_resolved_when_it_ends():
    profiles = trained(feature_stream(20_000, 0, 0, seed=9))
    live = feature_stream(30_000, 5_000, 20_000, seed=10)
    alerts, statuses = run_features(TRAINING, live, profiles)
    x = [(a.status, a.window.last_offset) for a in alerts if a.signal == "x"]
    assert [s for s, _ in x] == ["drifting", "resolved"], x
    assert 5_000 <= x[0][1] < 6_000, "drifting soon after the drift starts"
    assert 20_000 <= x[1][1] < 20_000 + 2 * AlertPolicy().resolve_after_values, "resolved soon after it ends"
    states = [s.state for s in statuses if s.signal == "x"]
    assert states == ["ok", "drifting", "resolved"]


def test_without_a_published_profile_the_first_values_serve_and_the_metric_says_so():
    registry = CollectorRegistry()
    router = Router(TRAINING, ServiceMetrics(registry))
    topic = TRAINING.topics.features
    events = feature_stream(100, 0, 0, seed=11)
    router.route({(topic, 0): [Record(topic, 0, i, b"m", encode(e)) for i, e in enumerate(events)]})
    assert registry.get_sample_value("streamdrift_reference_profile_loaded", {"model": "m"}) == 0
