"""The estimated accuracy (river.estimated_accuracy): a covariate shift into cases the model is unsure about
alarms before the labels of those cases arrive, the calibrated estimate tracks the true accuracy, a stable
stream is quiet, and a concept drift is not seen (the documented limit)."""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from consumers.alerts import Batch
from consumers.model_monitor import ModelMonitor
from consumers.partition import Snapshot
from stream.config import AlertPolicy, EstimatedAccuracyConfig, ModelConfig, PredictionConfig, RiverConfig, parse_config
from stream.errors import ConfigError
from stream.events import LabelEvent, PredictionEvent
from stream.metrics import ServiceMetrics

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
N, SHIFT, LAG, WINDOW = 30_000, 15_000, 4_000, 1_000
SLOPE = 1.5          # true P(y = 1 | x) = sigmoid(SLOPE * x)
TOLERANCE = 0.03     # the calibrated estimate of a window against its true (expected) accuracy


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def stream(seed: int, shift: str | None = None):
    """Predictions of sign(x) with an overconfident score sigmoid(2 * SLOPE * |x|), labels LAG events later.
    shift "covariate": x's spread falls from 2 to 1 at SHIFT (more cases near the boundary, same P(y | x));
    "concept": x unchanged, but the labels of 0 < x < 1.5 flip at SHIFT. Returns events and each one's
    probability of being right."""
    rng = np.random.default_rng(seed)
    i = np.arange(N)
    spread = np.where((i >= SHIFT) & (shift == "covariate"), 1.0, 2.0)
    x = rng.standard_normal(N) * spread
    p_one = sigmoid(SLOPE * x)
    if shift == "concept":
        p_one = np.where((i >= SHIFT) & (x > 0) & (x < 1.5), 1 - p_one, p_one)
    y = rng.random(N) < p_one
    predicted = x > 0
    right = np.where(predicted, p_one, 1 - p_one)
    predictions = [PredictionEvent(event_id=str(k), model_id="m", model_version="v1", timestamp=T0 + timedelta(seconds=k),
                                   prediction="yes" if predicted[k] else "no",
                                   score=float(sigmoid(2 * SLOPE * abs(x[k])))) for k in range(N)]
    labels = [LabelEvent(event_id=str(k), model_id="m", timestamp=T0 + timedelta(seconds=k + LAG),
                         label="yes" if y[k] else "no") for k in range(N)]
    return predictions, labels, right


def config(**settings) -> ModelConfig:
    settings = {"sample_rate": 1.0, **settings}
    return ModelConfig(model_id="m", prediction=PredictionConfig(type="categorical"),
                       river=RiverConfig(estimated_accuracy=EstimatedAccuracyConfig(**settings)))


def run(log, monitor: ModelMonitor | None = None, start: int = 0, stop: int = N, every=None):
    """Predictions in batches of WINDOW, with the labels that have come by then; `every(monitor, s)` after each."""
    monitor = monitor or ModelMonitor(config(), AlertPolicy(), ServiceMetrics(CollectorRegistry()))
    predictions, labels, _ = log
    alerts = []
    for s in range(start, stop, WINDOW):
        first = max(0, s - LAG)
        for role, events, at in (("predictions", predictions[s:s + WINDOW], s),
                                 ("labels", labels[first:max(0, s + WINDOW - LAG)], first)):
            if events:
                batch = Batch(role, 0, list(range(at, at + len(events))), [e.timestamp for e in events])
                alerts += monitor.observe(role, events, batch)[0]
        if every is not None:
            every(monitor, s)
    return monitor, alerts


@pytest.fixture(scope="module")
def covariate():
    return stream(seed=1, shift="covariate")


def test_a_shift_into_unsure_cases_alarms_before_their_labels_arrive(covariate):
    monitor, alerts = run(covariate)
    estimated = [a for a in alerts if a.signal == "estimated_accuracy"]
    assert [(a.kind, a.detector, a.status) for a in estimated][:1] == [("performance", "confidence_based", "drifting")]
    alert = estimated[0]
    # The first window after the shift alarms, long before the first label of a shifted prediction comes in.
    assert SHIFT <= alert.window.last_offset < SHIFT + 2 * WINDOW <= SHIFT + LAG, alert.line()
    assert "fell to an estimated" in alert.message and alert.statistic >= 0.05
    # The labels say so later: the error-rate detector (ddm, on the joined labels) alarms after it.
    errors = [k for k, a in enumerate(alerts) if a.signal == "error_rate" and a.status == "drifting"]
    assert errors and errors[0] > alerts.index(alert), [a.line() for a in alerts]
    estimate = monitor.metrics.registry.get_sample_value("streamdrift_estimated_accuracy",
                                                         {"model": "m", "model_version": "v1"})
    assert estimate == monitor.estimate.detectors["confidence_based"].estimate < 0.8


@pytest.mark.parametrize("seed", [2, 3])
def test_quiet_on_a_stable_stream(seed):
    _, alerts = run(stream(seed))
    assert [a.line() for a in alerts if a.signal == "estimated_accuracy"] == []


def test_the_calibrated_estimate_tracks_the_true_accuracy_without_concept_drift(covariate):
    _, _, right = covariate
    errors, raw = [], []

    def measure(monitor, s):
        estimator = monitor.estimate.detectors["confidence_based"]
        if s >= LAG + WINDOW:   # once labels came (of the first regime only, until 19,000)
            errors.append(abs(estimator.estimate - right[s:s + WINDOW].mean()))
            scores = [e.score for e in covariate[0][s:s + WINDOW]]
            raw.append(abs(np.mean(scores) - right[s:s + WINDOW].mean()))

    run(covariate, every=measure)
    assert max(errors) < TOLERANCE, errors
    # Negative control: the model is overconfident, and its raw mean confidence misses by far more.
    assert min(raw) > 2 * TOLERANCE, raw


def test_a_concept_drift_is_not_seen_the_documented_limit():
    log = stream(seed=4, shift="concept")
    right = log[2]
    assert right[:SHIFT].mean() - right[SHIFT:].mean() > 0.1, "the accuracy falls by more than the margin"
    seen = []
    _, alerts = run(log, every=lambda m, s: seen.append(m.estimate.detectors["confidence_based"].statistic))
    assert [a for a in alerts if a.signal == "estimated_accuracy"] == []
    assert max(seen[1:]) < 0.05, "the estimate stays at its reference while the accuracy falls"
    assert any(a.signal == "error_rate" for a in alerts), "only the labels show it"


def test_a_restored_snapshot_gives_the_alerts_of_an_uninterrupted_run(covariate):
    _, expected = run(covariate)
    first, before = run(covariate, stop=SHIFT - 3 * WINDOW)
    blob = Snapshot("g", 0, {}, {"m": first.state()}).encode()
    resumed = ModelMonitor(config(), AlertPolicy(), ServiceMetrics(CollectorRegistry()))
    resumed.load(Snapshot.decode(blob).models["m"])
    _, after = run(covariate, monitor=resumed, start=SHIFT - 3 * WINDOW)
    assert [a.alert_id for a in before + after] == [a.alert_id for a in expected] != []
    # Bounded by max_pending: here every prediction's bin waits LAG predictions for its label.
    size = len(pickle.dumps(first.state()["estimate"]))
    assert size < 80_000, size


def test_the_same_alerts_whatever_the_batching(covariate):
    _, expected = run(covariate)
    monitor = ModelMonitor(config(), AlertPolicy(), ServiceMetrics(CollectorRegistry()))
    predictions, labels, _ = covariate
    alerts = []
    for s in range(0, N, 700):   # labels of a batch join as the predictions do: same calibration at each window
        first = max(0, s - LAG)
        for role, events, at in (("predictions", predictions[s:s + 700], s),
                                 ("labels", labels[first:max(0, s + 700 - LAG)], first)):
            if events:
                alerts += monitor.observe(role, events, Batch(role, 0, list(range(at, at + len(events))),
                                                              [e.timestamp for e in events]))[0]
    mine = [a.alert_id for a in alerts if a.signal == "estimated_accuracy"]
    assert mine == [a.alert_id for a in expected if a.signal == "estimated_accuracy"] != []


def test_the_estimate_needs_categorical_predictions_and_a_margin_above_the_noise():
    with pytest.raises(ConfigError, match="river.estimated_accuracy estimates how often"):
        parse_config("models:\n  - model_id: m\n    prediction: {type: numeric}\n"
                     "    river: {estimated_accuracy: {}}\n")
    with pytest.raises(ConfigError) as info:
        parse_config("models:\n  - model_id: m\n    prediction: {type: categorical}\n"
                     "    river: {estimated_accuracy: {window: 200, margin: 0.05}}\n")
    assert any(path.startswith("models[0].river.estimated_accuracy") and "raise window to at least 800" in message
               for path, message in info.value.errors), info.value.errors
    with pytest.raises(ConfigError) as info:
        parse_config("models:\n  - model_id: m\n    prediction: {type: categorical}\n"
                     "    river: {estimated_accuracy: {bins: 1}}\n")
    assert any(path.startswith("models[0].river.estimated_accuracy.bins") for path, _ in info.value.errors)
