"""Consume throughput of the monitor service against a plain kafka-python loop, in the same run.

    python benchmarks/consume_bench.py [--events 100000] [--features 20]

Publishes the same feature events to a real broker (STREAMDRIFT_BOOTSTRAP, or a local one), then
measures events/s end to end for:
  baseline   a plain kafka-python consumer: json.loads per message, River's ADWIN per feature,
             value by value (what DESIGN.md's performance notes measured at about 37,000/s);
  service    MonitorService: batch decode + validate, numpy columns, `ks` per feature, checkpoints
             and exactly-once commits included.
Also the decoder alone (no Kafka) against json.loads + pydantic one event at a time.
Results go to benchmarks/results/consume.md, each as a ratio to its baseline.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from kafka import KafkaConsumer, KafkaProducer
from river.drift import ADWIN

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from consumers.service import MonitorService  # noqa: E402
from stream.broker import kafka_broker  # noqa: E402
from stream.codec import BatchDecoder  # noqa: E402
from stream.config import Config  # noqa: E402
from stream.events import FeatureEvent  # noqa: E402
from stream.kafka_clients import ensure_topics  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "consume.md"


def make_events(n: int, features: int, seed: int = 0) -> list[bytes]:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(n, features))
    names = [f"f{j}" for j in range(features)]
    stamp = datetime(2026, 1, 1, tzinfo=timezone.utc).isoformat()
    return [json.dumps({"schema_version": 1, "event_id": str(i), "model_id": "bench", "timestamp": stamp,
                        "features": dict(zip(names, row.tolist()))}).encode() for i, row in enumerate(values)]


def publish(bootstrap: str, topic: str, payloads: list[bytes]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, batch_size=256 * 1024)
    for p in payloads:
        producer.send(topic, key=b"bench", value=p)
    producer.flush()
    producer.close()


def baseline(bootstrap: str, topic: str, n: int, features: int) -> float:
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"base-{uuid.uuid4().hex[:6]}",
                             auto_offset_reset="earliest", enable_auto_commit=False, max_poll_records=5000)
    detectors = {f"f{j}": ADWIN() for j in range(features)}
    seen = 0
    start = None
    while seen < n:
        for records in consumer.poll(timeout_ms=500).values():
            start = start or time.perf_counter()
            for record in records:
                event = json.loads(record.value)
                for name, value in event["features"].items():
                    detectors[name].update(value)
            seen += len(records)
            consumer.commit()
    elapsed = time.perf_counter() - start
    consumer.close()
    return n / elapsed


def service_rate(bootstrap: str, topics: dict, n: int, features: int) -> float:
    config = Config.model_validate({
        "kafka": {"bootstrap_servers": bootstrap},
        "topics": topics,
        "consumer": {"group_id": f"svc-{uuid.uuid4().hex[:6]}", "instance_id": "bench"},
        "metrics": {"port": 0},
        "models": [{"model_id": "bench", "features": [{"name": f"f{j}"} for j in range(features)]}],
    })
    service = MonitorService(config)
    service.connect()          # includes ks calibration, outside the timed part
    counter = service.metrics.events.labels("features", "bench")._value
    import threading

    thread = threading.Thread(target=service.run, daemon=True)
    start = time.perf_counter()
    thread.start()
    while counter.get() < n:
        time.sleep(0.01)
    elapsed = time.perf_counter() - start
    service.stop()
    thread.join(timeout=60)
    return n / elapsed


def decode_rates(payloads: list[bytes]) -> tuple[float, float]:
    start = time.perf_counter()
    for p in payloads:
        FeatureEvent.model_validate(json.loads(p))
    one_by_one = len(payloads) / (time.perf_counter() - start)
    decoder = BatchDecoder(FeatureEvent)
    start = time.perf_counter()
    for i in range(0, len(payloads), 5000):
        decoder.decode(payloads[i:i + 5000])
    batched = len(payloads) / (time.perf_counter() - start)
    return one_by_one, batched


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=20)
    args = parser.parse_args()
    n, k = args.events, args.features
    payloads = make_events(n, k)
    print(f"decoding {n:,} events of {k} features ...", flush=True)
    one_by_one, batched = decode_rates(payloads)
    with kafka_broker() as bootstrap:
        suffix = uuid.uuid4().hex[:6]
        topics = {"features": f"bench{suffix}.features", "predictions": f"bench{suffix}.predictions",
                  "labels": f"bench{suffix}.labels", "alerts": f"bench{suffix}.alerts",
                  "dead_letter": f"bench{suffix}.dlq", "state": f"bench{suffix}.state", "partitions": 1}
        config = Config.model_validate({"kafka": {"bootstrap_servers": bootstrap}, "topics": topics,
                                        "models": [{"model_id": "bench"}]})
        ensure_topics(config.kafka, config.topics)
        print(f"publishing {n:,} events to {bootstrap} ...", flush=True)
        publish(bootstrap, topics["features"], payloads)
        print("baseline: plain kafka-python + River ADWIN per value ...", flush=True)
        base = baseline(bootstrap, topics["features"], n, k)
        print("streamdrift service ...", flush=True)
        ours = service_rate(bootstrap, topics, n, k)
    rows = [
        ("decode + validate, one event at a time (json.loads + pydantic)", one_by_one, one_by_one),
        ("decode + validate, streamdrift BatchDecoder (msgspec mirror of the event model, times parsed by pydantic-core)", batched, one_by_one),
        ("consume: plain kafka-python loop, River ADWIN per value", base, base),
        ("consume: streamdrift service (ks per feature, checkpoints, exactly-once)", ours, base),
    ]
    lines = [
        "# Consume throughput",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d} on {platform.machine()}, {platform.python_version()}, "
        f"{n:,} events of {k} numeric features, one partition, a local Apache Kafka broker; "
        "each ratio is against the baseline above it, measured in the same run.",
        "",
        "| what | events/s | ratio |",
        "|---|---:|---:|",
        *[f"| {name} | {rate:,.0f} | {rate / ref:.2f}x |" for name, rate, ref in rows],
        "",
        "Reproduce: `python benchmarks/consume_bench.py` (`--events`, `--features`).",
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
