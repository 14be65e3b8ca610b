"""The domain classifier (river.domain_classifier): a flipped correlation that no univariate detector sees,
quiet on stable data, an exact false-alarm rate whatever the features look like, and exact snapshots."""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from consumers.alerts import Batch
from consumers.model_monitor import ModelMonitor
from consumers.partition import Snapshot
from consumers.river_domain import DomainClassifier, wins_needed
from stream.config import (AlertPolicy, DomainClassifierConfig, FeatureConfig, ModelConfig, RiverConfig,
                           parse_config)
from stream.errors import ConfigError
from stream.events import FeatureEvent
from stream.metrics import ServiceMetrics

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
FLIP_AT = 30_000


def correlated(n: int, flip_at: int | None, seed: int, rho: float = 0.8) -> np.ndarray:
    """x, y standard normal with correlation rho, -rho from flip_at on (every marginal unchanged); z lognormal."""
    rng = np.random.default_rng(seed)
    x, noise, z = rng.standard_normal(n), rng.standard_normal(n), rng.lognormal(size=n)
    r = np.full(n, rho) if flip_at is None else np.where(np.arange(n) >= flip_at, -rho, rho)
    return np.column_stack([x, r * x + np.sqrt(1 - r ** 2) * noise, z])


def model(**settings) -> ModelConfig:
    return ModelConfig(model_id="m", features=tuple(FeatureConfig(name=n) for n in "xyz"),
                       river=RiverConfig(domain_classifier=DomainClassifierConfig(**settings)))


def batches(rows: np.ndarray, size: int):
    for start in range(0, len(rows), size):
        chunk = rows[start:start + size]
        events = [FeatureEvent(event_id=str(start + i), model_id="m", timestamp=T0 + timedelta(seconds=start + i),
                               features=dict(zip("xyz", map(float, r)))) for i, r in enumerate(chunk)]
        yield events, Batch("features", 0, list(range(start, start + len(chunk))), [e.timestamp for e in events])


def run(config: ModelConfig, rows: np.ndarray, size: int = 1000, monitor: ModelMonitor | None = None):
    monitor = monitor or ModelMonitor(config, AlertPolicy(), ServiceMetrics(CollectorRegistry()))
    alerts = []
    for events, batch in batches(rows, size):
        alerts += monitor.observe_features(events, batch)[0]
    return monitor, alerts


def test_a_flipped_correlation_alarms_where_the_univariate_detectors_stay_quiet():
    monitor, alerts = run(model(), correlated(60_000, FLIP_AT, seed=1))
    drifting = [a for a in alerts if a.status == "drifting"]
    assert [(a.signal, a.kind, a.detector) for a in drifting] == [("joint_distribution", "data_drift",
                                                                   "domain_classifier")], [a.line() for a in alerts]
    assert FLIP_AT < drifting[0].window.last_offset < FLIP_AT + 10_000
    assert "driven by x*y" in drifting[0].message, "the product of the features whose correlation flipped leads"
    assert drifting[0].statistic >= drifting[0].threshold
    assert {s.signal for s in monitor.signals()} == {"x", "y", "z", "joint_distribution"}


def test_without_pairwise_inputs_a_linear_classifier_misses_the_flip():
    # Negative control: the alarm above comes from the pairwise products, not from a broken test.
    _, alerts = run(model(pairwise=False), correlated(60_000, FLIP_AT, seed=1))
    assert alerts == []


@pytest.mark.parametrize("seed", [2, 3])
def test_quiet_on_stable_data(seed):
    _, alerts = run(model(), correlated(60_000, None, seed=seed))
    assert alerts == []


def test_the_same_alerts_whatever_the_batching():
    rows = correlated(45_000, FLIP_AT, seed=4)
    _, big = run(model(), rows, size=2_000)
    _, small = run(model(), rows, size=333)
    assert [(a.alert_id, a.message) for a in big] == [(a.alert_id, a.message) for a in small] != []


def test_a_restored_snapshot_gives_the_alerts_of_an_uninterrupted_run():
    rows = correlated(45_000, FLIP_AT, seed=4)
    _, expected = run(model(), rows)
    first, before = run(model(), rows[:20_000])
    blob = Snapshot("g", 0, {"features": 20_000}, {"m": first.state()}).encode()
    resumed = ModelMonitor(model(), AlertPolicy(), ServiceMetrics(CollectorRegistry()))
    resumed.load(Snapshot.decode(blob).models["m"])
    after = []
    for events, batch in batches(rows[20_000:], 1000):
        batch = Batch("features", 0, [o + 20_000 for o in batch.offsets], batch.times)
        after += resumed.observe_features(events, batch)[0]
    assert [a.alert_id for a in before + after] == [a.alert_id for a in expected] != []
    assert len(pickle.dumps(first.state()["joint"])) < 150_000, "the reference (2,000 x 3 float32) dominates"


def test_a_changed_configuration_starts_the_classifier_afresh():
    first, _ = run(model(), correlated(5_000, None, seed=5))
    other = ModelMonitor(model(window_pairs=100), AlertPolicy(), ServiceMetrics(CollectorRegistry()))
    other.load(first.state())
    assert other.joint.detectors["domain_classifier"]._reference is None
    same = ModelMonitor(model(), AlertPolicy(), ServiceMetrics(CollectorRegistry()))
    same.load(first.state())
    assert same.joint.detectors["domain_classifier"]._reference is not None


@pytest.mark.parametrize("draw", [
    lambda rng, n: rng.standard_normal((n, 3)),
    lambda rng, n: np.column_stack([rng.standard_t(2, n), rng.poisson(1.0, n), rng.exponential(size=n)]),
], ids=["normal", "heavy-tailed-and-discrete"])
def test_false_alarms_come_at_the_rate_arl_promises(draw):
    # window 100 pairs, every event: a window is 100 events and arl 2,000 allows 5% of windows to alarm.
    config = DomainClassifierConfig(reference_events=200, sample_rate=1.0, window_pairs=100, arl=2_000)
    detector = DomainClassifier(config, ["a", "b", "c"])
    rng = np.random.default_rng(7)
    alarms = windows = 0
    for _ in range(25):
        alarms += len(detector.update_many(draw(rng, 8_000)))
    windows = 25 * 8_000 // 100   # less the reference refills after alarms: a slight overcount
    nominal = wins_needed_tail(100, detector.needed)
    assert nominal <= 0.05
    rate = alarms / windows
    assert 0.4 * nominal < rate < 1.6 * nominal, (alarms, windows, nominal)


def wins_needed_tail(pairs: int, needed: int) -> float:
    from scipy.stats import binom

    return float(binom.sf(needed - 1, pairs, 0.5))


def test_wins_needed_is_the_binomial_quantile():
    assert wins_needed(100, 0.05) == 59   # P(Bin(100, 1/2) >= 59) = 0.044, P(>= 58) = 0.067


def test_bad_settings_are_refused_with_their_path():
    base = "models:\n  - model_id: m\n    features: [{name: a}]\n    river:\n      domain_classifier: "
    with pytest.raises(ConfigError) as info:
        parse_config(base + "{sample_rate: 0}\n")
    assert any(path.startswith("models[0].river.domain_classifier.sample_rate") for path, _ in info.value.errors)
    with pytest.raises(ConfigError, match="raise arl to at least"):
        parse_config(base + "{window_pairs: 1000, sample_rate: 0.01, arl: 1e6}\n")
    with pytest.raises(ConfigError, match="river.domain_classifier learns from numeric features"):
        parse_config("models:\n  - model_id: m\n    features: [{name: a, type: categorical}]\n"
                     "    river: {domain_classifier: {}}\n")
    assert parse_config(base + "{}\n").models[0].river.domain_classifier.sample_rate == 0.05
    with pytest.raises(ConfigError, match="river.isolation_forest"):   # a River model streamdrift does not run
        parse_config("models:\n  - model_id: m\n    features: [{name: a}]\n    river: {isolation_forest: {}}\n")
