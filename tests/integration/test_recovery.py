"""Nothing lost, nothing counted twice: SIGKILL crashes, a rebalance, a broker restart, hostile input."""

from __future__ import annotations

import random
import threading
import time
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from kafka import KafkaProducer

from stream.events import DriftAlert, FeatureEvent
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


def publish(bootstrap: str, topic: str, events: list[FeatureEvent]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    for e in events:
        producer.send(topic, key=e.model_id.encode(), value=e.model_dump_json().encode())
    producer.flush()
    producer.close()


def run_config(bootstrap: str, suffix: str, run: str, models: list[str], partitions: int = 3):
    config = make_config(bootstrap, suffix, [{"model_id": m, "features": FEATURES} for m in models],
                         checkpoint={"every_events": 1500, "every_seconds": 1.0})
    topics = config.topics.model_copy(update={"alerts": f"t{suffix}.alerts.{run}", "partitions": partitions})
    consumer = config.consumer.model_copy(update={"group_id": f"g{suffix}.{run}", "max_poll_records": 500})
    return config.model_copy(update={"topics": topics, "consumer": consumer})


def alert_ids(bootstrap: str, topic: str) -> list[str]:
    """Committed alerts, sorted: with exactly-once delivery a duplicate would show here."""
    records = read_to_end(bootstrap, topic)
    return sorted(DriftAlert.model_validate_json(r.value).alert_id for r in records)


def single_run(bootstrap, suffix, models, total, tmp_path, partitions=3) -> tuple[list[str], dict]:
    config = run_config(bootstrap, suffix, "reference", models, partitions)
    service = ServiceProcess(write_config(config, tmp_path / "reference.yaml"), tmp_path / "reference.log").start()
    service.wait_assigned()
    try:
        wait_until_committed(bootstrap, config.consumer.group_id, config.topics.features, partitions, total, [service])
    finally:
        assert service.terminate() == 0, service.log_tail()
    return alert_ids(bootstrap, config.topics.alerts), detector_counts(final_snapshots(config))


def publish_paced(bootstrap: str, topic: str, events: list[FeatureEvent | tuple[bytes, bytes]],
                  rate: float, idempotent: bool = False) -> threading.Thread:
    """Publish the fixed log (events, or raw (key, value) messages) at a steady rate in the background,
    so the service is always mid-stream. Idempotent: retries across a broker outage add no duplicates."""
    def target():
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20,
                                 enable_idempotence=idempotent, delivery_timeout_ms=180_000)
        start = time.monotonic()
        for i, e in enumerate(events):
            key, value = e if isinstance(e, tuple) else (e.model_id.encode(), e.model_dump_json().encode())
            producer.send(topic, key=key, value=value)
            if i % 100 == 0:
                time.sleep(max(0.0, start + i / rate - time.monotonic()))
        producer.flush()
        producer.close()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_sigkill_at_random_moments_loses_nothing_and_counts_nothing_twice(kafka_bootstrap, unique, tmp_path):
    models, n = ["alpha", "beta"], 12_000
    total = len(models) * n
    log = event_log(models, n, seed=11)
    # Interleave the models as live traffic would be.
    log = [e for pair in zip(log[:n], log[n:]) for e in pair]
    config = run_config(kafka_bootstrap, unique, "crashing", models)
    ensure_topics(config.kafka, config.topics)
    path = write_config(config, tmp_path / "crashing.yaml")
    group, topic = config.consumer.group_id, config.topics.features

    publisher = publish_paced(kafka_bootstrap, topic, log, rate=1200)
    rng = random.Random(5)
    kills = []
    service = ServiceProcess(path, tmp_path / "crashing.log").start()
    while len(kills) < 6:
        service.wait_assigned()
        progress = committed(kafka_bootstrap, group, topic, 3)
        deadline = time.monotonic() + 60
        while committed(kafka_bootstrap, group, topic, 3) == progress:
            assert service.alive(), service.log_tail()
            assert time.monotonic() < deadline, "no progress between kills"
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.0))   # kill at a random moment between checkpoints
        service.kill()
        kills.append(committed(kafka_bootstrap, group, topic, 3))
        service = ServiceProcess(path, tmp_path / "crashing.log").start()
    publisher.join()
    assert sum(k < total for k in kills) >= 5, f"five kills must land mid-stream (committed at each: {kills})"
    service.wait_assigned()
    wait_until_committed(kafka_bootstrap, group, topic, 3, total, [service])
    assert service.terminate() == 0, service.log_tail()
    crashed_ids, crashed_counts = alert_ids(kafka_bootstrap, config.topics.alerts), detector_counts(final_snapshots(config))

    # The same log, consumed by one uninterrupted run in a fresh group.
    expected_ids, expected_counts = single_run(kafka_bootstrap, unique, models, total, tmp_path)
    assert expected_ids, "the uninterrupted run must see the injected drift"
    assert all(count == n for count in expected_counts.values()), expected_counts
    assert crashed_ids == expected_ids
    assert crashed_counts == expected_counts


def test_a_rebalance_hands_partitions_over_with_their_state(kafka_bootstrap, unique, tmp_path):
    models, n = [f"m{i}" for i in range(6)], 5_000
    total = len(models) * n
    base = run_config(kafka_bootstrap, unique, "reference", models, partitions=6)
    ensure_topics(base.kafka, base.topics)
    publish(kafka_bootstrap, base.topics.features, event_log(models, n, seed=12))
    expected_ids, expected_counts = single_run(kafka_bootstrap, unique, models, total, tmp_path, partitions=6)
    assert expected_ids

    config = run_config(kafka_bootstrap, unique, "pair", models, partitions=6)
    path = write_config(config, tmp_path / "pair.yaml")
    first = ServiceProcess(path, tmp_path / "first.log").start()
    second = ServiceProcess(path, tmp_path / "second.log", instance_id="instance-1").start()
    first.wait_assigned()
    second.wait_assigned()
    group, topic = config.consumer.group_id, config.topics.features
    deadline = time.monotonic() + 120
    while committed(kafka_bootstrap, group, topic, 6) < total // 3:
        assert first.alive() and second.alive() and time.monotonic() < deadline
        time.sleep(0.1)
    assert second.terminate() == 0, second.log_tail()   # leaves the group mid-stream
    wait_until_committed(kafka_bootstrap, group, topic, 6, total, [first])
    assert first.terminate() == 0, first.log_tail()

    assert alert_ids(kafka_bootstrap, config.topics.alerts) == expected_ids
    assert detector_counts(final_snapshots(config)) == expected_counts
