"""Latency from produce to alert on the alert topic, under exactly-once checkpoints.

    python benchmarks/latency_bench.py [--models 100] [--partitions 4] [--features 10] [--rate 3000]
                                       [--seconds 180] [--shift 6] [--checkpoint-seconds 2.0 0.5]

Goal: p99 latency from produce to alert on the alert topic at most checkpoint.every_seconds + 0.5 s.

One `streamdrift serve` (default detectors: ks on every numeric feature) per checkpoint setting, on its own
features topic (STREAMDRIFT_BOOTSTRAP, or a local broker). A thread of this process publishes feature
events at a steady, paced rate (round robin over the models, event time = wall time) for --seconds; at a
random event of each model (after the detectors' warm-up) that model's values jump by --shift sd on every
feature. This process reads the alert topic with a read_committed consumer, as a subscriber would: alerts
become visible only when the service's checkpoint transaction commits.

Latency of a model's first data_drift alert = the wall time this process received it - the CreateTime of
the features record its window ends at (window.last_offset: the event at which drift was detected), set by
our producer at send(), read back from the features topic after the run. One machine, one clock. It is
split at the alert record's own CreateTime (set by the service's producer when it sent the alert): produce
-> detected, and detected -> visible (the wait for the checkpoint commit).
Results go to benchmarks/results/latency.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import yaml
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

sys.path.insert(0, str(Path(__file__).parent))   # benchmarks/: throughput_bench's helpers, _machine
import throughput_bench as tb   # (it also puts the repository root on sys.path, for stream.*)
from _machine import cpu_name

from stream.broker import kafka_broker

RESULTS = tb.ROOT / "benchmarks" / "results" / "latency.md"
WARM_UP_EVENTS = 2_000   # per model: ks learns its reference from the first 1,000 values, then tests
DETECT_EVENTS = 1_000    # per model: room left after the latest shift for the alarm (+6 sd: ~40 events)


class CheckpointedServices(tb.Services):
    """tb.Services with a checkpoint section added to each instance's config file."""

    def __init__(self, *args, checkpoint: dict, consumer: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        for path in self.configs:
            config = yaml.safe_load(path.read_text())
            config["checkpoint"] = checkpoint
            config["consumer"].update(consumer or {})
            path.write_text(yaml.safe_dump(config))
        self.topics = yaml.safe_load(self.configs[0].read_text())["topics"]


class Feed(threading.Thread):
    """Paced feature events, round robin over the models; model m's values shift at its event onset[m]."""

    def __init__(self, bootstrap: str, topic: str, models: list[str], features: int, rate: float,
                 seconds: float, shift: float, seed: int):
        super().__init__(daemon=True)
        self.topic, self.models, self.rate, self.seconds, self.shift = topic, models, rate, seconds, shift
        self.names = [f"f{j}" for j in range(features)]
        self.rng = np.random.default_rng(seed)
        per_model = int(rate * seconds / len(models))
        if per_model - DETECT_EVENTS <= WARM_UP_EVENTS:
            raise SystemExit(f"{per_model} events per model: too few for a warm-up of {WARM_UP_EVENTS} and a shift "
                             f"detected within {DETECT_EVENTS}; raise --seconds or --rate, or lower --models")
        self.onset = dict(zip(models, self.rng.integers(WARM_UP_EVENTS, per_model - DETECT_EVENTS, len(models))))
        self.bootstrap = bootstrap
        self.sent = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        self.producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5)
        started = time.monotonic()
        while not self.stopping.is_set():
            elapsed = time.monotonic() - started
            if elapsed >= self.seconds:
                break
            # Catch up to the schedule, then sleep a little: a steady rate, whatever a send costs.
            due = int(self.rate * elapsed)
            values = self.rng.normal(size=(max(0, due - self.sent), len(self.names))).round(6)
            for row in values:
                model = self.models[self.sent % len(self.models)]
                n = self.sent // len(self.models)   # this model's event number
                drifted = n >= self.onset[model]
                payload = json.dumps({
                    "schema_version": 1, "event_id": f"{model}-{n}{'-d' if drifted else ''}", "model_id": model,
                    "timestamp": datetime.now(UTC).isoformat(),
                    "features": dict(zip(self.names, (row + self.shift if drifted else row).tolist()))})
                self.producer.send(self.topic, key=model.encode(), value=payload.encode())
                self.sent += 1
            time.sleep(0.005)
        self.producer.flush()
        self.producer.close()


SERVICE_METRICS = {"cpu": "process_cpu_seconds_total",
                   "checkpoints": "streamdrift_checkpoint_duration_seconds_count",
                   "checkpoint_s": "streamdrift_checkpoint_duration_seconds_sum",
                   "batches": "streamdrift_batch_duration_seconds_count",
                   "batch_s": "streamdrift_batch_duration_seconds_sum",
                   "batch_events": "streamdrift_batch_events_sum"}


def metric(port: int, name: str) -> float:
    """The sum of a metric's samples on the service's /metrics (0 when unreachable)."""
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1).read().decode()
    except OSError:
        return 0.0
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith((name + " ", name + "{")))


def drop_topics(admin: KafkaAdminClient, topics: list[str]) -> None:
    """Delete this run's topics (the broker's disk is shared); whatever fails to go is only reported."""
    try:
        admin.delete_topics(topics)
    except Exception as exc:   # noqa: BLE001  (cleanup must not hide the run's result or error)
        print(f"  could not delete topics {topics}: {exc}", flush=True)
    admin.close()


def read_records(bootstrap: str, refs: list[tuple[str, int, int]]) -> dict[tuple[str, int, int], object]:
    """The records at these (topic, partition, offset)s."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    found: dict[tuple[str, int, int], object] = {}
    try:
        for topic, partition, offset in sorted(set(refs)):
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            consumer.seek(tp, offset)
            deadline = time.monotonic() + 30
            while (topic, partition, offset) not in found and time.monotonic() < deadline:
                for record in consumer.poll(timeout_ms=500).get(tp, []):
                    if record.offset == offset:
                        found[(topic, partition, offset)] = record
                        break
    finally:
        consumer.close()
    return found


def run(bootstrap: str, workdir: Path, args, every_seconds: float) -> dict:
    topic = f"latency-{uuid.uuid4().hex[:6]}"
    models = tb.model_ids(args.partitions, -(-args.models // args.partitions))[:args.models]
    feed = Feed(bootstrap, topic, models, args.features, args.rate, args.seconds, args.shift, args.seed)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, args.partitions, 1)])
    services = CheckpointedServices(workdir, bootstrap, topic, args.partitions, models, args.features, None,
                                    f"latency-{uuid.uuid4().hex[:6]}", 1,
                                    checkpoint={"every_seconds": every_seconds},
                                    consumer={"fetch_min_bytes": args.fetch_min_bytes})
    first: dict[str, tuple[float, object, dict]] = {}   # model -> (received at, alert record, alert)
    watcher = None
    print(f"checkpoint.every_seconds {every_seconds}: {len(models)} models, {args.rate:,.0f} events/s "
          f"for {args.seconds:.0f} s, shift +{args.shift:g} sd", flush=True)
    try:
        services.start()
        feed.start()
        services.first_event()
        # The service's counters from here on: start-up (no events, no checkpoints) left out.
        before = {key: metric(services.ports[0], name) for key, name in SERVICE_METRICS.items()}
        started = time.monotonic()
        # Subscribed before any shift: the earliest shift comes WARM_UP_EVENTS events of a model in.
        watcher = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed",
                                enable_auto_commit=False, fetch_max_wait_ms=20)  # a prompt instrument
        alerts_tp = TopicPartition(services.topics["alerts"], 0)
        watcher.assign([alerts_tp])
        watcher.seek_to_beginning(alerts_tp)
        grace_until, shown = None, time.monotonic()
        while len(first) < len(models):
            for record in watcher.poll(timeout_ms=50).get(alerts_tp, []):
                received = time.time()
                alert = json.loads(record.value)
                if alert["kind"] == "data_drift" and alert["status"] == "drifting" and alert["model_id"] not in first:
                    first[alert["model_id"]] = (received, record, alert)
            if not feed.is_alive():
                # Time for the last shifts to be detected and their checkpoint to commit.
                grace_until = grace_until or time.monotonic() + every_seconds + 15
                if time.monotonic() > grace_until:
                    break
            if time.monotonic() - shown >= 15:
                shown = time.monotonic()
                print(f"  sent {feed.sent:,}, processed {tb.events_processed(services.ports[0]):,.0f}, "
                      f"models alerted {len(first)}/{len(models)}", flush=True)
            services._alive()
        # How the service spent the run: what the latency is made of.
        service = {key: metric(services.ports[0], name) - before[key] for key, name in SERVICE_METRICS.items()}
        service["wall"] = time.monotonic() - started
        services.stop()
        # The detecting features records, read back for their CreateTime and event id.
        refs = {m: (a["window"]["topic"], a["window"]["partition"], a["window"]["last_offset"])
                for m, (_, _, a) in first.items()}
        records = read_records(bootstrap, list(refs.values()))
    finally:
        feed.stopping.set()
        if feed.is_alive():
            feed.join(timeout=30)
        if watcher is not None:
            watcher.close()
        services.stop()
        drop_topics(admin, [topic, f"{topic}-p", f"{topic}-l"]
                    + [services.topics[k] for k in ("alerts", "dead_letter", "state", "status")])
    total, detect, visible, delays, early = [], [], [], [], 0
    for model, (received, alert_record, _) in first.items():
        record = records[refs[model]]
        event_id = json.loads(record.value)["event_id"]
        if not event_id.endswith("-d"):
            early += 1   # detected before the shift: a false alarm, not a latency
            continue
        produced = record.timestamp / 1000
        total.append(received - produced)
        detect.append(alert_record.timestamp / 1000 - produced)
        visible.append(received - alert_record.timestamp / 1000)
        delays.append(int(event_id.split("-")[-2]) - feed.onset[model])
    result = {"every_seconds": every_seconds, "models": len(models), "alerted": len(first), "early": early,
              "total": total, "detect": detect, "visible": visible, "delays": delays,
              "service": service}
    print(summary(result), flush=True)
    return result


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def summary(r: dict) -> str:
    goal = r["every_seconds"] + 0.5
    p99 = pct(r["total"], 99)
    return (f"  every_seconds {r['every_seconds']:g}: {len(r['total'])} alerts, p50 {pct(r['total'], 50):.2f} s, "
            f"p90 {pct(r['total'], 90):.2f} s, p99 {p99:.2f} s, max {max(r['total'], default=float('nan')):.2f} s; "
            f"p99 / goal ({goal:g} s) = {p99 / goal:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--rate", type=float, default=3_000, help="events/s over all models")
    parser.add_argument("--seconds", type=float, default=180, help="publishing time per run")
    parser.add_argument("--shift", type=float, default=6.0, help="drift, in sd, added to every feature")
    parser.add_argument("--fetch-min-bytes", type=int, default=1,
                        help="consumer.fetch_min_bytes of the service (fewer, larger batches at low traffic)")
    parser.add_argument("--checkpoint-seconds", type=float, nargs="+", default=[2.0, 0.5],
                        help="checkpoint.every_seconds of each run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="streamdrift-latency-") as tmp, kafka_broker() as bootstrap:
        results = [run(bootstrap, Path(tmp), args, s) for s in args.checkpoint_seconds]
    write_results(args, results)


def write_results(args, results: list[dict]) -> None:
    lines = [
        "# Latency: produce to alert on the alert topic",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `benchmarks/latency_bench.py` on {cpu_name()} "
        f"({os.cpu_count()} cores): {args.models} models of {args.features} numeric features (default ks "
        f"detectors), {args.partitions} partitions, consumer.fetch_min_bytes {args.fetch_min_bytes:,}, "
        f"{args.rate:,.0f} events/s paced for {args.seconds:.0f} s per "
        f"run, one local Apache Kafka broker sharing the machine. At a random event of each model (from its "
        f"{WARM_UP_EVENTS:,}th on) every feature shifts by +{args.shift:g} sd. Latency = when a read_committed "
        "consumer of the alert topic received the model's first data_drift alert - CreateTime of the features "
        "record at the alert's window.last_offset (the event at which drift was detected), one clock. "
        "'Detected' is the alert record's own CreateTime (the service's send, before its checkpoint commits).",
        "",
        "Goal: p99 at most checkpoint.every_seconds + 0.5 s.",
        "",
        "| checkpoint.every_seconds | alerts | p50 | p90 | p99 | max | p99 / goal | produce -> detected p50 / p99 "
        "| detected -> visible p50 / p99 | events to detect (median) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        t, goal = r["total"], r["every_seconds"] + 0.5
        lines.append(
            f"| {r['every_seconds']:g} s | {len(t)} of {r['models']} models | {pct(t, 50):.2f} s | {pct(t, 90):.2f} s "
            f"| {pct(t, 99):.2f} s | {max(t, default=float('nan')):.2f} s | {pct(t, 99) / goal:.2f} "
            f"| {pct(r['detect'], 50):.2f} / {pct(r['detect'], 99):.2f} s "
            f"| {pct(r['visible'], 50):.2f} / {pct(r['visible'], 99):.2f} s "
            f"| {np.median(r['delays']) if r['delays'] else float('nan'):.0f} |")
    lines += ["", "The service during each run (its /metrics, from its first event to the last alert):", "",
              "| checkpoint.every_seconds | checkpoints | mean interval | mean checkpoint | batches | mean batch "
              "| mean batch time | CPU (of one core) |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        m = r["service"]
        lines.append(f"| {r['every_seconds']:g} s | {m['checkpoints']:.0f} | {m['wall'] / max(m['checkpoints'], 1):.2f} s "
                     f"| {m['checkpoint_s'] / max(m['checkpoints'], 1) * 1000:.0f} ms | {m['batches']:.0f} "
                     f"| {m['batch_events'] / max(m['batches'], 1):,.0f} events | {m['batch_s'] / max(m['batches'], 1) * 1000:.0f} ms "
                     f"| {m['cpu'] / m['wall']:.0%} |")
    notes = [f"{r['every_seconds']:g} s: {r['models'] - r['alerted']} model(s) without an alert" for r in results
             if r["alerted"] < r["models"]]
    notes += [f"{r['every_seconds']:g} s: {r['early']} first alert(s) before the shift (false alarms, left out)"
              for r in results if r["early"]]
    if notes:
        lines += ["", "Also: " + "; ".join(notes) + "."]
    lines += ["", f"p99 of {len(results[0]['total'])} alerts is about its second-largest value: raise --models "
              "for a steadier tail.",
              "", "Reproduce: `STREAMDRIFT_BOOTSTRAP=host:port python benchmarks/latency_bench.py` (`--models`, "
              "`--partitions`, `--features`, `--rate`, `--seconds`, `--shift`, `--checkpoint-seconds S...`, "
              "`--fetch-min-bytes`, "
              "`--seed`; without STREAMDRIFT_BOOTSTRAP a local broker is started).", ""]
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
