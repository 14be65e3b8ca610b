"""Memory of `streamdrift serve` over a long stream: RSS growth from 1M to 10M events, and state size per feature.

    python benchmarks/memory_bench.py [--events 10000000] [--models 20] [--features 10] [--partitions 4]

Goal: RSS grows at most 5% from 1M to 10M events; state size per feature measured and reported.

One `streamdrift serve` (default config: numeric features, ks detectors) on one features topic
(STREAMDRIFT_BOOTSTRAP, or a local broker). A producer subprocess (this script, --produce) publishes
stationary normal feature events, so no drift and no alerts, round robin over the models: a pool of
pre-encoded feature payloads cycled through (kafka-python has to send 10M records on a machine it shares
with the broker and the service), each event with its own event_id and an event time moving forward. It
keeps up to --lead events ahead of what the service has processed (its /metrics), no further.
Every second the service's VmRSS (/proc/PID/status) is read with its processed-event count (/metrics).
After the run (the service's last checkpoint included), the latest snapshot of each partition on the
state topic is read: its bytes over models x features is the state size per feature.
Results go to benchmarks/results/memory.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import yaml
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.partitioner.default import murmur2

sys.path.insert(0, str(Path(__file__).parent))   # benchmarks/: throughput_bench's helpers, _machine
import throughput_bench as tb   # (it also puts the repository root on sys.path, for stream.*)
from _machine import cpu_name

from stream.broker import kafka_broker

RESULTS = tb.ROOT / "benchmarks" / "results" / "memory.md"
POOL = 50_000   # distinct feature payloads (made coprime with the model count, so each model sees them all)


def produce(bootstrap: str, topic: str, partitions: int, models: list[str], features: int, events: int,
            port: int, lead: int) -> None:
    """The producer subprocess: `events` feature events, at most `lead` ahead of the service's count."""
    rng = np.random.default_rng(0)
    names = [f"f{j}" for j in range(features)]
    pool_size = next(n for n in range(POOL, 2 * POOL) if math.gcd(n, len(models)) == 1)
    pool = [json.dumps(dict(zip(names, row))).encode()
            for row in rng.normal(size=(pool_size, features)).round(6).tolist()]
    keys = [m.encode() for m in models]
    # The default partitioner's choice, computed once: murmur2 in Python per record would cost more than the send.
    parts = [(murmur2(k) & 0x7FFFFFFF) % partitions for k in keys]
    heads = [b'{"schema_version":1,"model_id":"%s","event_id":"%s-' % (k, k) for k in keys]
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=50, batch_size=1024 * 1024)
    start = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    stamp = b""
    for i in range(events):
        if i % 10_000 == 0:
            while i - tb.events_processed(port) > lead:
                time.sleep(0.2)
        if i % 100 == 0:   # event time: 100 events a second, forward in steps of one second
            stamp = datetime.fromtimestamp(start + i / 100, UTC).isoformat().encode()
        m = i % len(models)
        producer.send(topic, key=keys[m], partition=parts[m],
                      value=heads[m] + b'%d","timestamp":"%s","features":%s}' % (i, stamp, pool[i % pool_size]))
    producer.flush()
    producer.close()


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for pid {pid}")


def latest_snapshots(bootstrap: str, topic: str, group: str) -> dict[str, bytes]:
    """key -> value of the latest record of each of this group's keys on the (compacted) state topic.

    The last checkpoint is at the end of each partition: only the last records are read."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed", enable_auto_commit=False)
    latest: dict[str, bytes] = {}
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        begin, end = consumer.beginning_offsets(tps), consumer.end_offsets(tps)
        for tp in tps:
            consumer.assign([tp])
            consumer.seek(tp, max(begin[tp], end[tp] - 64))
            deadline = time.monotonic() + 60
            while consumer.position(tp) < end[tp] and time.monotonic() < deadline:
                for record in consumer.poll(timeout_ms=500).get(tp, []):
                    if record.key and record.key.decode().startswith(group + "/"):
                        latest[record.key.decode()] = record.value
    finally:
        consumer.close()
    return latest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--lead", type=int, default=200_000, help="most events published ahead of the service")
    parser.add_argument("--produce", help=argparse.SUPPRESS)   # the producer subprocess: its arguments, as JSON
    args = parser.parse_args()
    if args.produce:
        produce(**json.loads(args.produce))
        return
    with tempfile.TemporaryDirectory(prefix="streamdrift-memory-") as tmp, kafka_broker() as bootstrap:
        result = run(bootstrap, Path(tmp), args)
    write_results(args, result)


def run(bootstrap: str, workdir: Path, args) -> dict:
    topic = f"memory-{uuid.uuid4().hex[:6]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, args.partitions, 1)])
    models = tb.model_ids(args.partitions, -(-args.models // args.partitions))[:args.models]
    group = f"memory-{uuid.uuid4().hex[:6]}"
    services = tb.Services(workdir, bootstrap, topic, args.partitions, models, args.features, None, group, 1)
    topics = yaml.safe_load(services.configs[0].read_text())["topics"]
    port = services.ports[0]
    spec = {"bootstrap": bootstrap, "topic": topic, "partitions": args.partitions, "models": models,
            "features": args.features, "events": args.events, "port": port, "lead": args.lead}
    producer = None
    samples: list[tuple[float, float, int]] = []   # (seconds since first event, events processed, RSS KiB)
    print(f"{args.events:,} events of {args.features} features, {len(models)} models, {args.partitions} partitions",
          flush=True)
    try:
        services.start()
        producer = subprocess.Popen([tb.PY, str(Path(__file__).resolve()), "--produce", json.dumps(spec)])
        services.first_event()
        pid = services.procs[0].pid
        first = time.monotonic()
        startup_kib = rss_kib(pid)
        shown = first
        while True:
            processed = tb.events_processed(port)
            samples.append((time.monotonic() - first, processed, rss_kib(pid)))
            if processed >= args.events:
                break
            if time.monotonic() - shown >= 15:
                shown = time.monotonic()
                elapsed = samples[-1][0]
                published = sum(tb.end_offsets(bootstrap, topic).values())
                print(f"  {elapsed:5.0f} s: published {published:,}, processed {processed:,.0f} "
                      f"({processed / max(elapsed, 1):,.0f}/s), RSS {samples[-1][2] / 1024:.0f} MiB", flush=True)
            services._alive()
            if producer.poll() not in (None, 0):
                raise RuntimeError(f"the producer exited ({producer.returncode})")
            time.sleep(1)
        peak_kib = rss_kib(pid, "VmHWM")
        services.stop()   # its last checkpoint: the state topic then holds the final state
        snapshots = latest_snapshots(bootstrap, topics["state"], group)
    finally:
        if producer is not None and producer.poll() is None:
            producer.terminate()
            try:
                producer.wait(timeout=30)
            except subprocess.TimeoutExpired:
                producer.kill()
                producer.wait()
        services.stop()
        try:
            admin.delete_topics([topic, f"{topic}-p", f"{topic}-l"]
                                + [topics[k] for k in ("alerts", "dead_letter", "state", "status")])
        except Exception as exc:   # noqa: BLE001  (cleanup must not hide the run's result or error)
            print(f"  could not delete this run's topics: {exc}", flush=True)
        admin.close()
    return {"models": len(models), "samples": samples, "startup_kib": startup_kib, "peak_kib": peak_kib,
            "state_bytes": sum(len(v) for v in snapshots.values()),
            "state_raw_bytes": sum(len(zlib.decompress(v)) for v in snapshots.values()),
            "snapshots": len(snapshots)}


def at(samples: list[tuple[float, float, int]], events: float) -> tuple[float, float, int]:
    """The first sample at or past this many processed events."""
    return next(s for s in samples if s[1] >= events)


def settled(samples: list[tuple[float, float, int]], events: float) -> float:
    """Median RSS (KiB) over the samples of the last 10% of events up to this many: one sample moves by a few
    percent with the batch and the checkpoint in progress, as much as the goal allows the whole run."""
    kib = [s[2] for s in samples if 0.9 * events <= s[1] <= events] or [at(samples, events)[2]]
    return float(np.median(kib))


def write_results(args, r: dict) -> None:
    samples, n = r["samples"], args.events
    marks = sorted({m for m in (n // 10, 1_000_000, 2_000_000, 5_000_000, 10_000_000, n) if 0 < m <= n})
    base = 1_000_000 if n >= 2_000_000 else n // 10   # the goal's 1M, when the run goes well past it
    growth = settled(samples, n) / settled(samples, base) - 1
    per_feature = r["models"] * args.features
    lines = [
        "# Memory: RSS over a long stream, and state size per feature",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `benchmarks/memory_bench.py` on {cpu_name()} "
        f"({os.cpu_count()} cores): one `streamdrift serve` (default config, ks detectors), {n:,} stationary "
        f"events of {args.features} numeric features over {r['models']} models and {args.partitions} partitions, "
        "published alongside by a producer process, one local Apache Kafka broker sharing the machine. "
        "RSS: VmRSS of the service, sampled every second with its processed-event count (/metrics).",
        "",
        "Goal: RSS grows at most 5% from 1M to 10M events.",
        "",
        "| events processed | seconds since first event | RSS at the mark | median RSS over the last 10% of events "
        "to the mark |",
        "|---|---|---|---|",
        f"| first event (start-up) | 0 | {r['startup_kib'] / 1024:.1f} MiB | |",
    ]
    for m in marks:
        t, _, kib = at(samples, m)
        lines.append(f"| {m:,} | {t:.0f} | {kib / 1024:.1f} MiB | {settled(samples, m) / 1024:.1f} MiB |")
    elapsed = samples[-1][0]
    lines += [
        "",
        f"Growth from {base:,} to {n:,} events (medians): {growth:+.1%}. Peak RSS (VmHWM): {r['peak_kib'] / 1024:.1f} MiB. "
        f"Throughput over the run: {samples[-1][1] / elapsed:,.0f} events/s.",
        "",
        f"State (the latest snapshot of each of {r['snapshots']} partitions on the state topic, after the last "
        f"checkpoint): {r['state_bytes'] / 1024:.1f} KiB compressed ({r['state_raw_bytes'] / 1024:.1f} KiB "
        f"pickled, before zlib), for {r['models']} models x {args.features} features: "
        f"**{r['state_bytes'] / per_feature:,.0f} bytes per feature** ({r['state_raw_bytes'] / per_feature:,.0f} "
        "uncompressed; everything of a model, quality monitors included, divided among its features).",
        "",
        "Reproduce: `STREAMDRIFT_BOOTSTRAP=host:port python benchmarks/memory_bench.py` (`--events`, `--models`, "
        "`--features`, `--partitions`, `--lead`; without STREAMDRIFT_BOOTSTRAP a local broker is started).",
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
