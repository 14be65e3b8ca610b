"""Throughput of `streamdrift serve` against the consumers a team would write instead, in one run.

    python benchmarks/throughput_bench.py [--events 300000] [--features 20] [--partitions 4] [--rounds 2]

One topic of feature events (numeric features, keyed by model id, spread evenly over the partitions)
on one real broker (STREAMDRIFT_BOOTSTRAP, or a local one). Each consumer is its own process reading
the topic from offset 0, in rounds, interleaved:
  kafka-python + json          json.loads per record, nothing else
  kafka-python + River ADWIN   the same, River's ADWIN per feature value
  Quix Streams + River ADWIN   an Application with one dataframe .update (its own virtual environment,
                               benchmarks/.venv-quix, made on first use: quixstreams brings confluent-kafka)
  streamdrift serve, ks        the default configuration (exactly-once checkpoints included)
  streamdrift serve, adwin     every feature on River's ADWIN instead
  streamdrift serve x2         two instances in one consumer group (scale-out)
The service is timed from its first processed event (its /metrics) to its group having committed the
topic's end offsets; the others from their first record to their commit after the last.
Also measured: restart to first processed event (a service stopped, events waiting, started again).
With --profile, py-spy samples the first default-config service for a few seconds, and the results
say which share of its main thread each stage took (benchmarks/_profile.py).
Results go to benchmarks/results/throughput.md, each rate as a ratio to kafka-python + River ADWIN.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import yaml
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.partitioner.default import murmur2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _machine import cpu_name  # noqa: E402  (benchmarks/, the folder of this script)
from _profile import Sampler, py_spy  # noqa: E402
from stream.broker import kafka_broker  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "throughput.md"
BASELINES = ROOT / "benchmarks" / "baselines"
QUIX_VENV = ROOT / "benchmarks" / ".venv-quix"
PY = sys.executable
PROFILE_SECONDS = 5   # of sampling, from the first processed event: well inside the run


def quix_python() -> str:
    """An interpreter with Quix Streams and our River version, kept apart from the service's dependencies."""
    python = QUIX_VENV / "bin" / "python"
    if not python.exists():
        import river

        print(f"making {QUIX_VENV} (quixstreams, river=={river.__version__}) ...", flush=True)
        subprocess.run([PY, "-m", "venv", str(QUIX_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "quixstreams>=3.20,<4",
                        f"river=={river.__version__}"], check=True)
    return str(python)


def model_ids(partitions: int, per_partition: int = 2) -> list[str]:
    """Model ids whose keys land evenly on the partitions (the default partitioner's murmur2)."""
    ids, counts, i = [], [0] * partitions, 0
    while len(ids) < partitions * per_partition:
        name = f"bench-{i}"
        p = (murmur2(name.encode()) & 0x7FFFFFFF) % partitions
        if counts[p] < per_partition:
            counts[p] += 1
            ids.append(name)
        i += 1
    return ids


def publish(bootstrap: str, topic: str, n: int, features: int, models: list[str]) -> None:
    rng = np.random.default_rng(0)
    names = [f"f{j}" for j in range(features)]
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, batch_size=512 * 1024)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()
    for lo in range(0, n, 10_000):
        values = rng.normal(size=(min(10_000, n - lo), features)).round(6)
        for i, row in enumerate(values.tolist(), start=lo):
            model = models[i % len(models)]
            stamp = datetime.fromtimestamp(start + i / 100, timezone.utc).isoformat()
            payload = json.dumps({"schema_version": 1, "event_id": f"{model}-{i}", "model_id": model,
                                  "timestamp": stamp, "features": dict(zip(names, row))})
            producer.send(topic, key=model.encode(), value=payload.encode())
        print(f"\r  published {lo + len(values):,}/{n:,}", end="", flush=True)
    producer.flush()
    producer.close()
    print()


def end_offsets(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
    ends = consumer.end_offsets(parts)
    consumer.close()
    return ends


def run_baseline(cmd: list[str]) -> float:
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=1800)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["events"] / result["seconds"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def events_processed(port: int) -> float:
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1).read().decode()
    except OSError:
        return 0.0
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("streamdrift_events_total{"))


class Services:
    """`streamdrift serve` processes of one consumer group, each with its own config file and metrics port."""

    def __init__(self, workdir: Path, bootstrap: str, topic: str, partitions: int, models: list[str],
                 features: int, detector: str | None, group: str, instances: int):
        self.ports, self.procs, self.configs = [], [], []
        suffix = uuid.uuid4().hex[:6]
        for k in range(instances):
            port = free_port()
            feats = [{"name": f"f{j}"} | ({"detectors": [{"kind": detector}]} if detector else {})
                     for j in range(features)]
            config = {
                "kafka": {"bootstrap_servers": bootstrap},
                "topics": {"features": topic, "predictions": f"{topic}-p", "labels": f"{topic}-l",
                           "alerts": f"{topic}-alerts-{suffix}", "dead_letter": f"{topic}-dlq-{suffix}",
                           "state": f"{topic}-state-{suffix}", "status": f"{topic}-status-{suffix}",
                           "partitions": partitions},
                "consumer": {"group_id": group, "instance_id": f"{group}-{k}"},
                "metrics": {"host": "127.0.0.1", "port": port},
                "models": [{"model_id": m, "features": feats} for m in models],
            }
            path = workdir / f"{group}-{k}.yaml"
            path.write_text(yaml.safe_dump(config))
            self.ports.append(port)
            self.configs.append(path)
        self.group = group

    def start(self) -> float:
        started = time.perf_counter()
        for k, path in enumerate(self.configs):
            log = open(path.with_suffix(".log"), "a")
            self.procs.append(subprocess.Popen([PY, "-m", "streamdrift", "serve", "--config", str(path)],
                                               stdout=log, stderr=subprocess.STDOUT, cwd=ROOT))
        return started

    def first_event(self, timeout_s: float = 120) -> float:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(events_processed(p) > 0 for p in self.ports):
                return time.perf_counter()
            self._alive()
            time.sleep(0.01)
        raise TimeoutError("the service processed nothing")

    def committed_all(self, bootstrap: str, ends: dict[TopicPartition, int], timeout_s: float = 1800) -> float:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                offsets = admin.list_group_offsets(self.group).get(self.group, {})
                if all(offsets.get(tp) is not None and offsets[tp].offset >= end for tp, end in ends.items()):
                    return time.perf_counter()
                self._alive()
                time.sleep(0.05)
        finally:
            admin.close()
        raise TimeoutError("the group did not commit the end offsets")

    def _alive(self) -> None:
        for proc, path in zip(self.procs, self.configs):
            if proc.poll() is not None:
                raise RuntimeError(f"serve exited ({proc.returncode}); see {path.with_suffix('.log')}")

    def stop(self) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs = []


def serve_rate(workdir: Path, bootstrap: str, topic: str, args, models: list[str], detector: str | None,
               instances: int, ends: dict[TopicPartition, int], profile: list | None = None) -> tuple[float, float]:
    """(events/s, seconds from process start to first processed event); `profile`, if given and empty,
    receives the stage shares of the first instance's main thread."""
    services = Services(workdir, bootstrap, topic, args.partitions, models, args.features, detector,
                        f"serve-{uuid.uuid4().hex[:6]}", instances)
    try:
        started = services.start()
        first = services.first_event()
        sampler = Sampler(services.procs[0].pid, PROFILE_SECONDS) if profile == [] else None
        done = services.committed_all(bootstrap, ends)
        if sampler is not None:
            profile.append(sampler.shares())
    finally:
        services.stop()
    return args.events / (done - first), first - started


def restart_times(workdir: Path, bootstrap: str, topic: str, args, models: list[str], times: int) -> list[float]:
    """A service that has processed the topic is stopped, events are added, and it is started again:
    seconds from the process's start to its first processed event."""
    services = Services(workdir, bootstrap, topic, args.partitions, models, args.features, None,
                        f"restart-{uuid.uuid4().hex[:6]}", 1)
    samples = []
    try:
        services.start()
        services.committed_all(bootstrap, end_offsets(bootstrap, topic))
        services.stop()
        for _ in range(times):
            publish(bootstrap, topic, 2_000, args.features, models)
            started = services.start()
            samples.append(services.first_event() - started)
            services.committed_all(bootstrap, end_offsets(bootstrap, topic))
            services.stop()
    finally:
        services.stop()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", nargs="*", help="run only these consumers (names as in the table)")
    parser.add_argument("--profile", action="store_true",
                        help="sample the first default-config service with py-spy and report where its time goes")
    args = parser.parse_args()
    profile: list | None = [] if args.profile else None
    if args.profile:
        py_spy()   # refuse at once, not after publishing, when it is missing
    quix = quix_python()
    models = model_ids(args.partitions)
    consumers = {
        "kafka-python + json": lambda b, t: run_baseline([PY, str(BASELINES / "kafka_python_loop.py"), "json", b, t,
                                                          str(args.events)]),
        "kafka-python + River ADWIN": lambda b, t: run_baseline([PY, str(BASELINES / "kafka_python_loop.py"),
                                                                 "adwin", b, t, str(args.events)]),
        "Quix Streams + River ADWIN": lambda b, t: run_baseline([quix, str(BASELINES / "quix_adwin.py"), b, t,
                                                                 str(args.events)]),
        "streamdrift serve, default (ks)": lambda b, t: serve_rate(work, b, t, args, models, None, 1, ends,
                                                                   profile)[0],
        "streamdrift serve, adwin": lambda b, t: serve_rate(work, b, t, args, models, "adwin", 1, ends)[0],
        "streamdrift serve, default, 2 instances": lambda b, t: serve_rate(work, b, t, args, models, None, 2,
                                                                           ends)[0],
    }
    if args.only:
        consumers = {k: v for k, v in consumers.items() if k in args.only}
    rates: dict[str, list[float]] = {name: [] for name in consumers}
    with tempfile.TemporaryDirectory(prefix="streamdrift-bench-") as tmp, kafka_broker() as bootstrap:
        work = Path(tmp)
        topic = f"throughput-{uuid.uuid4().hex[:6]}"
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        from kafka.admin import NewTopic

        admin.create_topics([NewTopic(topic, args.partitions, 1)])
        admin.close()
        print(f"publishing {args.events:,} events of {args.features} features to {args.partitions} partitions ...")
        publish(bootstrap, topic, args.events, args.features, models)
        ends = end_offsets(bootstrap, topic)
        for r in range(args.rounds):
            for name, run in consumers.items():
                rate = run(bootstrap, topic)
                rates[name].append(rate)
                print(f"round {r + 1}: {name}: {rate:,.0f} events/s", flush=True)
        restarts = restart_times(work, bootstrap, topic, args, models, 3) if not args.only else []
    write_results(args, rates, restarts, profile[0] if profile else None)


def write_results(args, rates: dict[str, list[float]], restarts: list[float], profile: tuple | None) -> None:
    base = rates.get("kafka-python + River ADWIN")
    quix = rates.get("Quix Streams + River ADWIN")
    lines = [
        "# Throughput: streamdrift serve against what a team would write",
        "",
        f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `benchmarks/throughput_bench.py` on {cpu_name()} ({os.cpu_count()} cores): "
        f"{args.events:,} events of {args.features} numeric features, {args.partitions} partitions, one local "
        "Apache Kafka broker sharing the machine; every consumer its own process reading from offset 0, "
        f"{args.rounds} rounds interleaved. Ratios are per round, against the baselines of the same round.",
        "",
        "| consumer | events/s per round | vs kafka-python + ADWIN | vs Quix Streams + ADWIN |",
        "|---|---|---|---|",
    ]
    for name, values in rates.items():
        per_round = " / ".join(f"{v:,.0f}" for v in values)
        vs_base = " / ".join(f"{v / b:.2f}x" for v, b in zip(values, base)) if base else "-"
        vs_quix = " / ".join(f"{v / q:.2f}x" for v, q in zip(values, quix)) if quix else "-"
        lines.append(f"| {name} | {per_round} | {vs_base} | {vs_quix} |")
    one = rates.get("streamdrift serve, default (ks)")
    two = rates.get("streamdrift serve, default, 2 instances")
    if one and two:
        lines += ["", "Two instances in one group against one, per round: "
                  + " / ".join(f"{b / a:.2f}x" for a, b in zip(one, two)) + "."]
    if restarts:
        lines += ["", "Restart to first processed event (process start, events waiting, default config): "
                  + ", ".join(f"{s:.2f} s" for s in restarts) + f" (median {statistics.median(restarts):.2f} s)."]
    if profile:
        samples, shares = profile
        lines += ["", f"Where the default-config service's main thread spent its time (py-spy, {PROFILE_SECONDS} s "
                  f"from its first processed event in round 1, {samples:,} samples; sampling slows that run a little; "
                  "stages nest, so shares do not add up):", "", "| stage | share |", "|---|---:|"]
        lines += [f"| {label} | {share:.1%} |" for label, share in shares]
    lines += ["", "Reproduce: `python benchmarks/throughput_bench.py` (`--events`, `--features`, `--partitions`, "
              "`--rounds`, `--only NAME...`, `--profile`).", ""]
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
