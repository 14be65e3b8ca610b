"""What the online River models cost the monitor: router events/s with each one on and off, and snapshot sizes.

    .venv/bin/python benchmarks/river_bench.py            # 30,000 rows (90,000 events), best of 3
    .venv/bin/python benchmarks/river_bench.py --quick    # 6,000 rows, to try it out

One model with 20 numeric features (normal, log-normal, uniform; x0 and x1 correlated), a categorical
prediction and its label 200 rows later: a row is three events (features, prediction, label), JSON
encoded, fed to `Router.route` as a consumer's poll returns them (decoding and validation included) in
batches of 1,500 records. The default detectors run in every configuration (ks per feature,
categorical on the predictions, ddm on the errors); the River models are added with their default
settings. Each configuration's rate is a ratio to the run without River models, measured in the same
run, rounds interleaved. Snapshot sizes are the partition snapshot as written to the state topic
(`Snapshot.encode()`) after the whole log, and each River model's share of it. Results go to
benchmarks/results/river.md.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import gc  # noqa: E402
import pickle  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import numpy as np  # noqa: E402
import orjson  # noqa: E402
import river  # noqa: E402
from _machine import cpu_name  # noqa: E402  (benchmarks/, the folder of this script)
from prometheus_client import CollectorRegistry  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from consumers.router import Router  # noqa: E402
from stream.config import Config  # noqa: E402
from stream.metrics import ServiceMetrics  # noqa: E402

FEATURES = 20
BATCH = 1_500
LABEL_LAG = 200
T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
RIVER = {
    "off": {},
    "domain_classifier": {"domain_classifier": {}},
    "challenger": {"challenger": {}},
    "challenger (forest)": {"challenger": {"model": "adaptive_random_forest"}},
    "anomalies": {"anomalies": {}},
    "both": {"domain_classifier": {}, "challenger": {}},
}


def records(rows: int, seed: int = 0) -> list[SimpleNamespace]:
    """The log as the consumer would poll it: features, predictions and (lagged) labels, interleaved."""
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.normal(size=rows) if k % 3 == 0 else rng.lognormal(size=rows) if k % 3 == 1
                         else rng.uniform(size=rows) for k in range(FEATURES)])
    x[:, 1] = 0.7 * x[:, 0] + 0.3 * x[:, 1]
    score = 1 / (1 + np.exp(-(x[:, 0] - 0.5 * x[:, 2])))
    prediction = np.where(score > 0.5, "yes", "no")
    label = np.where(rng.random(rows) < np.where(score > 0.5, score, 1 - score), prediction,
                     np.where(prediction == "yes", "no", "yes"))
    out, offsets = [], {"features": 0, "predictions": 0, "labels": 0}

    def add(topic: str, payload: dict) -> None:
        out.append(SimpleNamespace(topic=topic, partition=0, offset=offsets[topic], key=b"bench",
                                   value=orjson.dumps({"schema_version": 1, "model_id": "bench", **payload})))
        offsets[topic] += 1

    for i in range(rows + LABEL_LAG):
        if i < rows:
            stamp = (T0 + datetime.timedelta(seconds=i)).isoformat()
            add("features", {"event_id": str(i), "timestamp": stamp,
                             "features": {f"x{k}": float(x[i, k]) for k in range(FEATURES)}})
            add("predictions", {"event_id": str(i), "timestamp": stamp, "model_version": "v1",
                                "prediction": str(prediction[i]), "score": float(score[i])})
        j = i - LABEL_LAG
        if j >= 0:
            stamp = (T0 + datetime.timedelta(seconds=j + LABEL_LAG)).isoformat()
            add("labels", {"event_id": str(j), "timestamp": stamp, "label": str(label[j])})
    return out


def config(river_models: dict) -> Config:
    model = {"model_id": "bench", "features": [{"name": f"x{k}"} for k in range(FEATURES)],
             "prediction": {"type": "categorical"}, "river": river_models}
    return Config.model_validate({"models": [model], "topics": {"features": "features", "predictions": "predictions",
                                                                "labels": "labels"}})


def run(log: list, river_models: dict) -> tuple[float, Router]:
    router = Router(config(river_models), ServiceMetrics(CollectorRegistry()))
    gc.collect()
    started = time.perf_counter()
    for start in range(0, len(log), BATCH):
        chunk = log[start:start + BATCH]
        by_topic: dict[tuple[str, int], list] = {}
        for r in chunk:
            by_topic.setdefault((r.topic, 0), []).append(r)
        router.route(by_topic)
    return len(log) / (time.perf_counter() - started), router


def sizes(router: Router) -> dict[str, int]:
    snapshot = router.snapshots()[0]
    state = snapshot.models["bench"]
    out = {"snapshot": len(snapshot.encode())}
    for key in ("joint", "challenger", "anomalies"):
        if key in state:
            out[key] = len(pickle.dumps(state[key], protocol=5))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "river.md")
    args = parser.parse_args()
    rows = args.rows or (6_000 if args.quick else 30_000)
    log = records(rows)
    best: dict[str, float] = {}
    measured: dict[str, dict[str, int]] = {}
    for round_ in range(args.rounds):
        for name, river_models in RIVER.items():
            rate, router = run(log, river_models)
            best[name] = max(best.get(name, 0.0), rate)
            measured[name] = sizes(router)
            print(f"round {round_ + 1}: {name:22s} {rate:9,.0f} events/s  {measured[name]}", flush=True)
    lines = [
        "# River models: throughput and snapshot size",
        "",
        f"`{' '.join(['.venv/bin/python', 'benchmarks/river_bench.py', *sys.argv[1:]])}` on "
        f"{datetime.date.today().isoformat()}: {cpu_name()}, Python {platform.python_version()}, "
        f"River {river.__version__}, numpy {np.__version__}.",
        "",
        f"{rows:,} rows of one model (20 numeric features, a categorical prediction, its label {LABEL_LAG} rows "
        f"later): {len(log):,} events through `Router.route` (decoding included) in batches of {BATCH:,}, best of "
        f"{args.rounds} rounds, interleaved. The default detectors run in every line; River models at their "
        "default settings. Sizes after the whole log.",
        "",
        "| River models | events/s | ratio to off | snapshot bytes | domain classifier bytes | challenger bytes "
        "| anomalies bytes |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in RIVER:
        s = measured[name]
        lines.append(f"| {name} | {best[name]:,.0f} | {best[name] / best['off']:.2f} | {s['snapshot']:,} | "
                     f"{s.get('joint', 0):,} | {s.get('challenger', 0):,} | {s.get('anomalies', 0):,} |")
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
