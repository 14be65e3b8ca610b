"""The service's hot path without Kafka: polled records through decoding and every monitor, against an earlier commit.

    .venv/bin/python benchmarks/route_bench.py [--events 200000] [--models 8] [--features 20] [--poll 5000]
                                               [--baseline-rev 493e4d9]

Feature events of 20 numeric features for 8 models, keyed onto 4 partitions as the throughput
benchmark keys them, go through `consumers.router.Router.route` in polls of `--poll` records, as
`streamdrift serve` (default configuration: `ks` on every feature, data quality) gets them from
its consumer. The first fifth warms up (references, calibration); the rest is timed, best of three
passes over fresh routers. The baseline commit is exported with `git archive` into a temporary
directory and run in its own process, interleaved with the work tree, so nothing in the work tree
changes. No broker, no network thread, no checkpoint: the numbers say what the process's own code
costs, with much less of the shared machine's noise than the throughput benchmark. Writes
benchmarks/results/route.md, with the current tree's top costs under cProfile.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _revisions import export, top_costs  # benchmarks/, the folder of this script

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "route.md"
PARTITIONS = 4

# Runs under either version of the code; prints the best events/s as JSON.
_ROUTE = r"""
import json, sys, time
from datetime import datetime, timezone
import numpy as np, yaml
from prometheus_client import CollectorRegistry
from stream.config import parse_config
from stream.metrics import ServiceMetrics
from consumers.router import Record, Router

def workload(events, n_models, n_features, poll):
    models = [f"bench-{i}" for i in range(n_models)]
    names = [f"f{j}" for j in range(n_features)]
    config = parse_config(yaml.safe_dump({
        "kafka": {"bootstrap_servers": "localhost:9092"},
        "topics": {"features": "t", "predictions": "t-p", "labels": "t-l", "alerts": "a", "dead_letter": "d",
                   "state": "s", "status": "st", "partitions": %(partitions)d},
        "models": [{"model_id": m, "features": [{"name": n} for n in names]} for m in models]}))
    rng = np.random.default_rng(0)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()
    records = {p: [] for p in range(%(partitions)d)}
    for i, row in enumerate(rng.normal(size=(events, n_features)).round(6).tolist()):
        m = i %% n_models
        p = m %% %(partitions)d
        stamp = datetime.fromtimestamp(start + i / 100, timezone.utc).isoformat()
        value = json.dumps({"schema_version": 1, "event_id": f"{models[m]}-{i}", "model_id": models[m],
                            "timestamp": stamp, "features": dict(zip(names, row))}).encode()
        records[p].append(Record("t", p, len(records[p]), models[m].encode(), value))
    per = poll // %(partitions)d
    polls = [{p: rs[lo:lo + per] for p, rs in records.items() if rs[lo:lo + per]}
             for lo in range(0, max(map(len, records.values())), per)]
    return config, polls

def run(config, polls):
    router = Router(config, ServiceMetrics(CollectorRegistry()))
    warm = len(polls) // 5
    for batch in polls[:warm]:
        router.route(batch)
    timed = sum(len(rs) for batch in polls[warm:] for rs in batch.values())
    started = time.perf_counter()
    for batch in polls[warm:]:
        router.route(batch)
    return timed / (time.perf_counter() - started)

if __name__ == "__main__":
    events, n_models, n_features, poll, passes = map(int, sys.argv[1:6])
    import consumers
    assert consumers.__file__.startswith(sys.argv[6]), consumers.__file__   # the version asked for
    config, polls = workload(events, n_models, n_features, poll)
    print(json.dumps(max(run(config, polls) for _ in range(passes))))
""" % {"partitions": PARTITIONS}


def measure(path: Path, opts, passes: int = 3) -> float:
    args = [str(v) for v in (opts.events, opts.models, opts.features, opts.poll, passes)]
    out = subprocess.run([sys.executable, "-c", _ROUTE, *args, str(path)], check=True, capture_output=True,
                         text=True, cwd=path, env=dict(os.environ, PYTHONPATH=str(path)))
    return json.loads(out.stdout)




def profile(opts) -> str:
    sys.path.insert(0, str(ROOT))
    namespace: dict = {}
    exec(compile(_ROUTE.split("if __name__")[0], "route", "exec"), namespace)
    config, polls = namespace["workload"](opts.events, opts.models, opts.features, opts.poll)
    profiler = cProfile.Profile()
    profiler.enable()
    namespace["run"](config, polls)
    profiler.disable()
    return top_costs(profiler, 15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--models", type=int, default=8)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--poll", type=int, default=5_000, help="records per poll (the service's max_poll_records)")
    parser.add_argument("--baseline-rev", default="493e4d9", help="the commit to compare with (default: before "
                        "the msgspec decoding)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved runs of three passes each")
    parser.add_argument("--output", type=Path, default=RESULTS)
    opts = parser.parse_args()
    rates: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as old:
        export(opts.baseline_rev, Path(old), "stream", "consumers", "detectors")
        for round_ in range(opts.rounds):   # interleaved, best of all: the machine is shared
            for label, path in ((f"at {opts.baseline_rev}", Path(old)), ("work tree", ROOT)):
                print(f"round {round_ + 1}: {label} ...", flush=True)
                rates[label] = max(rates.get(label, 0.0), measure(path, opts))
    base = rates[f"at {opts.baseline_rev}"]
    lines = [
        "# The router alone: polled records through decoding and every monitor",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC by `benchmarks/route_bench.py`: "
        f"{opts.events:,} feature events of {opts.features} numeric features for {opts.models} models on "
        f"{PARTITIONS} partitions, polls of {opts.poll:,} records through `Router.route` (default configuration: "
        "`ks` and data quality on every feature), no broker; the first fifth warms up, the rest is timed, best "
        f"of {3 * opts.rounds} passes each ({opts.rounds} interleaved runs of three).",
        "",
        "| code | events/s | µs per event | ratio |",
        "|---|---:|---:|---:|",
        *[f"| {label} | {rate:,.0f} | {1e6 / rate:.1f} | {rate / base:.2f}x |" for label, rate in rates.items()],
        "",
        "Top costs of the work tree (cProfile over one pass, sorted by own time; cProfile slows Python-level "
        "calls more than numpy's):",
        "",
        "```",
        profile(opts),
        "```",
        "",
        "Reproduce: `python benchmarks/route_bench.py` (`--events`, `--models`, `--features`, `--poll`, "
        "`--baseline-rev`, `--rounds`).",
    ]
    opts.output.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
