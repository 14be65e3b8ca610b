"""The live challenger (river.challenger) on River's Agrawal stream with a change of concept part way: it
overtakes a model frozen before the change soon after it, and never before it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from itertools import islice

import pytest
from prometheus_client import CollectorRegistry

from consumers.alerts import Batch
from consumers.model_monitor import ModelMonitor
from consumers.partition import Snapshot
from stream.config import ChallengerConfig, FeatureConfig, ModelConfig, PredictionConfig, RiverConfig, parse_config
from stream.errors import ConfigError
from stream.events import FeatureEvent, LabelEvent, PredictionEvent
from stream.metrics import ServiceMetrics

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
N, CHANGE, LAG, BATCH = 14_000, 6_000, 300, 500
NAMES = ("salary", "commission", "age", "elevel", "car", "zipcode", "hvalue", "hyears", "loan")


def frozen_production():
    """A Hoeffding tree trained on the first concept, then frozen: production's model."""
    from river import datasets, tree

    model = tree.HoeffdingTreeClassifier()
    for x, y in datasets.synth.Agrawal(classification_function=0, seed=100).take(5_000):
        model.learn_one(x, y)
    return model


def agrawal_log(seed: int, change_at: int | None = CHANGE):
    """Features, the frozen model's prediction and, LAG events later, the label; concept 0, then 2 from change_at."""
    from river import datasets

    before = datasets.synth.Agrawal(classification_function=0, seed=seed)
    after = datasets.synth.Agrawal(classification_function=2, seed=seed + 1)
    cut = N if change_at is None else change_at
    rows = list(islice(iter(before), cut)) + list(islice(iter(after), N - cut))
    production = frozen_production()
    features, predictions, labels = [], [], []
    for i, (x, y) in enumerate(rows):
        at = T0 + timedelta(seconds=i)
        features.append(FeatureEvent(event_id=str(i), model_id="m", timestamp=at, features=x))
        predictions.append(PredictionEvent(event_id=str(i), model_id="m", model_version="v1", timestamp=at,
                                           prediction=production.predict_one(x)))
        labels.append(LabelEvent(event_id=str(i), model_id="m", timestamp=at + timedelta(seconds=LAG), label=y))
    return features, predictions, labels


def config(**settings) -> ModelConfig:
    settings = {"sample_rate": 1.0, **settings}   # every label: the default samples 5% of them
    return ModelConfig(model_id="m", features=tuple(FeatureConfig(name=n) for n in NAMES),
                       prediction=PredictionConfig(type="categorical", error_detectors=()),
                       river=RiverConfig(challenger=ChallengerConfig(**settings)))


def run(log, monitor: ModelMonitor | None = None, start: int = 0, stop: int = N, settings=None):
    monitor = monitor or ModelMonitor(config(**(settings or {})), _policy(), ServiceMetrics(CollectorRegistry()))
    features, predictions, labels = log
    alerts = []
    for s in range(start, stop, BATCH):
        for role, events, first in (("features", features[s:s + BATCH], s), ("predictions", predictions[s:s + BATCH], s),
                                    ("labels", labels[max(0, s - LAG):max(0, s + BATCH - LAG)], max(0, s - LAG))):
            if events:
                batch = Batch(role, 0, list(range(first, first + len(events))), [e.timestamp for e in events])
                alerts += monitor.observe(role, events, batch)[0]
    return monitor, [a for a in alerts if a.signal == "challenger"]


def _policy():
    from stream.config import AlertPolicy

    return AlertPolicy()


@pytest.fixture(scope="module")
def log():
    return agrawal_log(seed=1)


def test_the_challenger_overtakes_a_model_frozen_before_the_change(log):
    monitor, alerts = run(log)
    drifting = [a for a in alerts if a.status == "drifting"]
    assert len(drifting) == 1, [a.line() for a in alerts]
    alert = drifting[0]
    assert alert.kind == "performance" and alert.detector == "challenger"
    # The alert lands on the label that closed the window: reported within 3 windows of labels after the change.
    assert CHANGE <= alert.window.last_offset <= CHANGE + 3 * 1_000, alert.line()
    assert "errs more than a live challenger (hoeffding_adaptive_tree)" in alert.message
    production, challenger = monitor.challenger.detectors["challenger"].error_rates
    assert production - challenger >= 0.05
    gauge = monitor.metrics.registry.get_sample_value(
        "streamdrift_performance", {"model": "m", "scope": "all", "metric": "challenger_error_rate"})
    assert gauge == challenger


def test_no_alert_without_a_change_of_concept():
    # Negative control: the same stream without the change; the frozen model stays as good as the challenger.
    _, alerts = run(agrawal_log(seed=1, change_at=None))
    assert alerts == []


def test_a_restored_snapshot_gives_the_alerts_of_an_uninterrupted_run(log):
    _, expected = run(log)
    first, before = run(log, stop=CHANGE + 500)
    blob = Snapshot("g", 0, {}, {"m": first.state()}).encode()
    resumed = ModelMonitor(config(), _policy(), ServiceMetrics(CollectorRegistry()))
    resumed.load(Snapshot.decode(blob).models["m"])
    _, after = run(log, monitor=resumed, start=CHANGE + 500)
    assert [a.alert_id for a in before + after] == [a.alert_id for a in expected] != []
    assert len(first.state()["challenger"]["detectors"]["challenger"]) < 600_000


def test_the_challenger_needs_features_and_categorical_predictions():
    with pytest.raises(ConfigError, match="river.challenger learns a classifier"):
        parse_config("models:\n  - model_id: m\n    features: [{name: a}]\n    river: {challenger: {}}\n")
    with pytest.raises(ConfigError) as info:
        parse_config("models:\n  - model_id: m\n    features: [{name: a}]\n    prediction: {type: categorical}\n"
                     "    river: {challenger: {model: svm}}\n")
    assert any(path.startswith("models[0].river.challenger.model") for path, _ in info.value.errors)
