"""Nothing lost, nothing counted twice: SIGKILL crashes and a rebalance, over a model's whole state.

The log carries features, and predictions of two versions (a canary errs more) with a segment, and
their labels some events later: the crashes land amid detectors, the label join, versions, segments,
performance windows and the comparison of the canary with the champion.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from kafka import KafkaProducer

from stream.config import TopicsConfig
from stream.events import DriftAlert, FeatureEvent, LabelEvent, PredictionEvent, role_of
from stream.kafka_clients import ensure_topics
from tests.integration.helpers import make_config, read_to_end
from tests.integration.service_process import (ServiceProcess, committed, detector_counts, final_snapshots,
                                               wait_until_committed, write_config)

pytestmark = [pytest.mark.integration, pytest.mark.recovery]

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
FEATURES = [{"name": "x"}, {"name": "y"}, {"name": "z", "type": "categorical"}]


def event_log(models: list[str], n: int, seed: int) -> list[FeatureEvent]:
    """A fixed log with drift at known points: x shifts at 40%, z changes mix at 70%, y never moves."""
    rng = np.random.default_rng(seed)
    events = []
    for m, model_id in enumerate(models):
        x = np.where(np.arange(n) >= 0.4 * n, rng.normal(1.0, 1, n), rng.normal(0, 1, n))
        y = rng.standard_t(4, n)
        z = np.where(np.arange(n) >= 0.7 * n, rng.choice(["a", "b", "c"], n, p=[0.2, 0.2, 0.6]),
                     rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]))
        events += [FeatureEvent(event_id=f"{model_id}-{i}", model_id=model_id,
                                timestamp=T0 + timedelta(seconds=i),
                                features={"x": float(x[i]), "y": float(y[i]), "z": str(z[i])}) for i in range(n)]
    return events


PREDICTION = {"prediction": {"type": "categorical"}, "versions": {"champion": "v1"}, "segments": ["region"],
              # The River models' state (the domain classifier's model, reference and seeded draws; the
              # challenger's tree and pending feature rows; the anomaly scorer and its reference) rides in
              # the same snapshots; sampled densely so that they work (the classifier alarms on x's shift)
              # within this short log.
              "river": {"domain_classifier": {"reference_events": 1000, "sample_rate": 0.5, "window_pairs": 200,
                                              "arl": 1e5},
                        "challenger": {"window_labels": 200, "sample_rate": 0.5},
                        "anomalies": {"sample_rate": 1.0, "warm_up": 500, "reference": 1000, "quantile": 0.95,
                                      "window": 500, "arl": 1e5}}}
LABEL_LAG = 2_500   # a label follows its prediction this many events later (about a second of the paced log)


def model_log(models: list[str], n: int, seed: int) -> list[FeatureEvent | PredictionEvent | LabelEvent]:
    """The feature log of event_log, with predictions (v1, and a canary v2 on 10% that errs 3x as often,
    in regions "north"/"south"; the south's predictions shift at 60%) and labels LABEL_LAG events later."""
    rng = np.random.default_rng(seed + 1000)
    features = event_log(models, n, seed)
    out: list = []
    for m, model_id in enumerate(models):
        pending: list[LabelEvent] = []
        for i in range(n):
            f = features[m * n + i]
            version = "v2" if rng.random() < 0.1 else "v1"
            region = "south" if rng.random() < 0.4 else "north"
            p = [0.2, 0.8] if region == "south" and i >= 0.6 * n else [0.6, 0.4]
            prediction = str(rng.choice(["yes", "no"], p=p))
            wrong = rng.random() < (0.3 if version == "v2" else 0.1)
            label = ("no" if prediction == "yes" else "yes") if wrong else prediction
            out += [f, PredictionEvent(event_id=f.event_id, model_id=model_id, model_version=version,
                                       timestamp=f.timestamp, prediction=prediction, segment={"region": region})]
            pending.append(LabelEvent(event_id=f.event_id, model_id=model_id,
                                      timestamp=f.timestamp + timedelta(seconds=LABEL_LAG), label=label))
            if len(pending) > LABEL_LAG:
                out.append(pending.pop(0))
        out += pending
    return out


def send(producer: KafkaProducer, topics: TopicsConfig | str, item) -> None:
    """An event to its role's topic (or every item to one topic); raw (key, value) items as they are."""
    if isinstance(item, tuple):
        key, value = item
        producer.send(topics if isinstance(topics, str) else topics.features, key=key, value=value)
        return
    topic = topics if isinstance(topics, str) else topics.of_role(role_of(item))
    producer.send(topic, key=item.model_id.encode(), value=item.model_dump_json().encode())


def data_topics(config) -> list[str]:
    return [config.topics.features, config.topics.predictions, config.topics.labels]


def run_config(bootstrap: str, suffix: str, run: str, models: list[str], partitions: int = 3, predictions=False):
    extra = PREDICTION if predictions else {}
    config = make_config(bootstrap, suffix, [{"model_id": m, "features": FEATURES, **extra} for m in models],
                         checkpoint={"every_events": 1500, "every_seconds": 1.0})
    topics = config.topics.model_copy(update={"alerts": f"t{suffix}.alerts.{run}", "partitions": partitions})
    consumer = config.consumer.model_copy(update={"group_id": f"g{suffix}.{run}", "max_poll_records": 500})
    return config.model_copy(update={"topics": topics, "consumer": consumer})


def alert_ids(bootstrap: str, topic: str) -> list[str]:
    """Committed alerts, sorted: with exactly-once delivery a duplicate would show here."""
    records = read_to_end(bootstrap, topic)
    return sorted(DriftAlert.model_validate_json(r.value).alert_id for r in records)


def single_run(bootstrap, suffix, models, total, tmp_path, partitions=3, predictions=False) -> tuple[list[str], dict]:
    config = run_config(bootstrap, suffix, "reference", models, partitions, predictions)
    service = ServiceProcess(write_config(config, tmp_path / "reference.yaml"), tmp_path / "reference.log").start()
    service.wait_assigned()
    try:
        wait_until_committed(bootstrap, config.consumer.group_id, data_topics(config), partitions, total, [service])
    finally:
        assert service.terminate() == 0, service.log_tail()
    return alert_ids(bootstrap, config.topics.alerts), detector_counts(final_snapshots(config))


def publish_paced(bootstrap: str, topics: TopicsConfig | str, events: list,
                  rate: float, idempotent: bool = False) -> threading.Thread:
    """Publish the fixed log (events, or raw (key, value) messages) at a steady rate in the background,
    so the service is always mid-stream. Idempotent: retries across a broker outage add no duplicates."""
    def target():
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20,
                                 enable_idempotence=idempotent, delivery_timeout_ms=180_000)
        start = time.monotonic()
        for i, e in enumerate(events):
            send(producer, topics, e)
            if i % 100 == 0:
                time.sleep(max(0.0, start + i / rate - time.monotonic()))
        producer.flush()
        producer.close()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_sigkill_at_random_moments_loses_nothing_and_counts_nothing_twice(kafka_bootstrap, unique, tmp_path):
    models, n = ["alpha", "beta"], 8_000
    log = model_log(models, n, seed=11)
    half = len(log) // 2
    log = [e for pair in zip(log[:half], log[half:]) for e in pair]   # the models interleaved, as live traffic
    total = len(log)
    config = run_config(kafka_bootstrap, unique, "crashing", models, predictions=True)
    ensure_topics(config.kafka, config.topics)
    path = write_config(config, tmp_path / "crashing.yaml")
    group, topics = config.consumer.group_id, data_topics(config)

    # 40 s of traffic: six incarnations (about 4 s each from start to a kill) all land mid-stream. A faster
    # publisher let the service catch up and commit everything before the last kills, leaving them no progress.
    publisher = publish_paced(kafka_bootstrap, config.topics, log, rate=1_200)
    rng = random.Random(5)
    kills = []
    service = ServiceProcess(path, tmp_path / "crashing.log").start()
    while len(kills) < 6:
        service.wait_assigned()
        progress = committed(kafka_bootstrap, group, topics, 3)
        deadline = time.monotonic() + 60
        while committed(kafka_bootstrap, group, topics, 3) == progress:
            assert service.alive(), service.log_tail()
            assert time.monotonic() < deadline, f"no progress between kills (committed {progress} of {total})"
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.0))   # kill at a random moment between checkpoints
        service.kill()
        kills.append(committed(kafka_bootstrap, group, topics, 3))
        service = ServiceProcess(path, tmp_path / "crashing.log").start()
    publisher.join()
    assert sum(k < total for k in kills) >= 5, f"five kills must land mid-stream (committed at each: {kills})"
    service.wait_assigned()
    wait_until_committed(kafka_bootstrap, group, topics, 3, total, [service])
    assert service.terminate() == 0, service.log_tail()
    crashed_ids, crashed_counts = alert_ids(kafka_bootstrap, config.topics.alerts), detector_counts(final_snapshots(config))

    # The same log, consumed by one uninterrupted run in a fresh group.
    expected_ids, expected_counts = single_run(kafka_bootstrap, unique, models, total, tmp_path, predictions=True)
    alerts = [DriftAlert.model_validate_json(r.value) for r in read_to_end(kafka_bootstrap, config.topics.alerts)]
    kinds = {(a.kind, a.scope) for a in alerts}
    assert {("data_drift", "all"), ("prediction_drift", "region=south"), ("performance", "version=v2")} <= kinds, kinds
    assert any(a.signal == "joint_distribution" for a in alerts), "the domain classifier alarms too"
    assert all(count == n for (_, signal, _), count in expected_counts.items() if signal.startswith("feature:"))
    assert crashed_ids == expected_ids
    assert crashed_counts == expected_counts


def test_a_rebalance_hands_partitions_over_with_their_state(kafka_bootstrap, unique, tmp_path):
    models, n = [f"m{i}" for i in range(6)], 3_000
    log = model_log(models, n, seed=12)
    total = len(log)
    config = run_config(kafka_bootstrap, unique, "pair", models, partitions=6, predictions=True)
    ensure_topics(config.kafka, config.topics)
    path = write_config(config, tmp_path / "pair.yaml")
    first = ServiceProcess(path, tmp_path / "first.log").start()
    second = ServiceProcess(path, tmp_path / "second.log", instance_id="instance-1").start()
    first.wait_assigned()
    second.wait_assigned()
    # Paced, as live traffic: labels reach the service after their predictions (docs/delivery.md says why).
    publish_paced(kafka_bootstrap, config.topics, log, rate=3_000)
    group, topics = config.consumer.group_id, data_topics(config)
    deadline = time.monotonic() + 120
    while committed(kafka_bootstrap, group, topics, 6) < total // 3:
        assert first.alive() and second.alive() and time.monotonic() < deadline
        time.sleep(0.1)
    assert second.terminate() == 0, second.log_tail()   # leaves the group mid-stream
    wait_until_committed(kafka_bootstrap, group, topics, 6, total, [first])
    assert first.terminate() == 0, first.log_tail()

    expected_ids, expected_counts = single_run(kafka_bootstrap, unique, models, total, tmp_path, partitions=6,
                                               predictions=True)
    assert expected_ids
    assert alert_ids(kafka_bootstrap, config.topics.alerts) == expected_ids
    assert detector_counts(final_snapshots(config)) == expected_counts
