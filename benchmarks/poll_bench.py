"""Records/s of KafkaConsumer.poll draining a topic: kafka-python's own record parsing against
stream/record_batches.py's, in one run.

    python benchmarks/poll_bench.py [--bootstrap HOST:PORT] [--events 200000] [--rounds 2]

Feature events as benchmarks/throughput_bench.py publishes them (JSON, 20 numeric features, keyed by
model id, spread evenly over 4 partitions) on one real broker (--bootstrap, else STREAMDRIFT_BOOTSTRAP,
else a local one). Each drain is its own process: a consumer with the service's settings (a fresh group,
read_committed, the service's poll and fetch sizes) polls from offset 0 until it has every
record; nothing is done with the records. Timed from the first non-empty poll to the last record, so
group join and the first fetch stay out. The two ways alternate, round by round.
Results go to benchmarks/results/poll.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import kafka
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.admin import NewTopic

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _machine import cpu_name  # noqa: E402  (benchmarks/, the folder of this script)
from stream.broker import kafka_broker  # noqa: E402
from stream.config import ConsumerConfig  # noqa: E402
from stream.record_batches import install  # noqa: E402
from throughput_bench import end_offsets, model_ids, publish  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "poll.md"
WAYS = {"kafka-python": False, "kafka-python + stream.record_batches": True}


def drain(bootstrap: str, topic: str, events: int, fast: bool) -> dict:
    """One consumer reading the topic from offset 0 to its end, as the service's consumer is configured."""
    cfg = ConsumerConfig()
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"poll-{uuid.uuid4().hex[:8]}",
        isolation_level="read_committed", enable_auto_commit=False, auto_offset_reset="earliest",
        max_poll_records=cfg.max_poll_records, fetch_min_bytes=cfg.fetch_min_bytes,
        fetch_max_wait_ms=cfg.fetch_max_wait_ms,
        max_partition_fetch_bytes=cfg.fetch_bytes_per_partition())
    if fast and not install(consumer):
        raise SystemExit("stream.record_batches.install refused this kafka-python")
    seen, counted, first, cpu, cpu_poll_thread = 0, 0, None, 0.0, 0.0
    try:
        while seen < events:
            started_cpu, started_thread = time.process_time(), time.thread_time()
            got = sum(len(records) for records in consumer.poll(timeout_ms=1000).values())
            spent_cpu, spent_thread = time.process_time() - started_cpu, time.thread_time() - started_thread
            seen += got
            if first is None:
                if got:
                    first = time.perf_counter()   # this poll's records are not counted: timing starts after it
                continue
            counted += got
            cpu += spent_cpu
            cpu_poll_thread += spent_thread
        done = time.perf_counter()
    finally:
        consumer.close()
    return {"records": counted, "seconds": done - first, "cpu_seconds": cpu, "thread_cpu_seconds": cpu_poll_thread}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bootstrap", default=os.environ.get("STREAMDRIFT_BOOTSTRAP"),
                        help="a running broker (default: STREAMDRIFT_BOOTSTRAP, else a local one is started)")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--drain", nargs=3, metavar=("WAY", "TOPIC", "EVENTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drain:
        way, topic, events = args.drain
        print(json.dumps(drain(args.bootstrap, topic, int(events), WAYS[way])))
        return
    if args.bootstrap:
        run(args, args.bootstrap)
    else:
        with kafka_broker() as bootstrap:
            run(args, bootstrap)


def run(args, bootstrap: str) -> None:
    topic = f"poll-{uuid.uuid4().hex[:6]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, args.partitions, 1)])
    admin.close()
    print(f"publishing {args.events:,} events of {args.features} features to {args.partitions} partitions ...")
    publish(bootstrap, topic, args.events, args.features, model_ids(args.partitions))
    total = sum(end_offsets(bootstrap, topic).values())
    results: dict[str, list[dict]] = {way: [] for way in WAYS}
    for r in range(args.rounds):
        for way in WAYS:
            out = subprocess.run([sys.executable, __file__, "--bootstrap", bootstrap, "--drain", way, topic,
                                  str(total)], check=True, capture_output=True, text=True, timeout=1800)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            results[way].append(result)
            print(f"round {r + 1}: {way}: {result['records'] / result['seconds']:,.0f} records/s "
                  f"({result['cpu_seconds'] / result['records'] * 1e6:.2f} µs CPU per record, "
                  f"{result['thread_cpu_seconds'] / result['records'] * 1e6:.2f} in poll's thread)", flush=True)
    write_results(args, total, results)


def write_results(args, total: int, results: dict[str, list[dict]]) -> None:
    plain, fast = (results[way] for way in WAYS)
    rate = lambda r: r["records"] / r["seconds"]  # noqa: E731
    per_record = lambda r: r["cpu_seconds"] / r["records"] * 1e6  # noqa: E731
    in_thread = lambda r: r["thread_cpu_seconds"] / r["records"] * 1e6  # noqa: E731
    lines = [
        "# Poll throughput: kafka-python's record parsing against stream.record_batches",
        "",
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `benchmarks/poll_bench.py` on {cpu_name()} "
        f"({os.cpu_count()} cores), Python {platform.python_version()}, kafka-python {kafka.__version__}: "
        f"{total:,} events of {args.features} numeric features (JSON, ~{_value_size()} bytes each), "
        f"{args.partitions} partitions, one local Apache Kafka broker sharing the machine. Each drain is its own "
        "process polling from offset 0 with the service's consumer settings (read_committed, max_poll_records "
        f"{ConsumerConfig().max_poll_records}, fetches of {ConsumerConfig().max_partition_fetch_bytes // 2**20} MiB "
        f"per partition), timed from its first non-empty poll to the last record; {args.rounds} rounds, the two ways "
        "alternating. Ratios are per round.",
        "",
        "| consumer | records/s per round | ratio | CPU µs per record: process | of which poll's thread |",
        "|---|---|---|---|---|",
    ]
    for way, runs in results.items():
        lines.append(f"| {way} | {' / '.join(f'{rate(r):,.0f}' for r in runs)} | "
                     f"{' / '.join(f'{rate(r) / rate(p):.2f}x' for r, p in zip(runs, plain))} | "
                     f"{' / '.join(f'{per_record(r):.2f}' for r in runs)} | "
                     f"{' / '.join(f'{in_thread(r):.2f}' for r in runs)} |")
    saved = [in_thread(p) - in_thread(f) for p, f in zip(plain, fast)]
    lines += [
        "",
        "CPU µs per record: CPU time spent during the `poll` calls after the first non-empty one, over the records "
        "they returned. Process: every thread (kafka-python's network thread receives and decodes the fetch "
        "responses); poll's thread: the caller's, where the fetched records are parsed. Saved in poll's thread: "
        + " / ".join(f"{s:.2f} µs" for s in saved) + " per record. Once parsing is fast, the wall-clock rate is "
        "bounded mostly by fetch round trips (one fetch in flight per broker) and the broker sharing the cores.",
        "",
        "Reproduce: `.venv/bin/python benchmarks/poll_bench.py` (`--bootstrap`, `--events`, `--rounds`).",
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


def _value_size() -> int:
    names = [f"f{j}" for j in range(20)]
    sample = {"schema_version": 1, "event_id": "bench-0-123456", "model_id": "bench-0",
              "timestamp": "2026-01-01T00:33:20.000000+00:00", "features": dict.fromkeys(names, -0.123456)}
    return round(len(json.dumps(sample)), -1)


if __name__ == "__main__":
    main()
