"""Throughput of `streamdrift backtest` on one core, each part against a plain River loop measured in the same run.

    .venv/bin/python benchmarks/backtest_bench.py            # 150,000 rows, best of 3; a few minutes
    .venv/bin/python benchmarks/backtest_bench.py --quick    # 20,000 rows, to try it out

Writes a log of one model (20 numeric features: normal, log-normal and uniform, three of them drifting
halfway; a categorical prediction with its score; a label known an hour later) as Parquet and as JSON
lines, and a configuration with the default detectors (ks per feature, categorical on the predictions,
ddm on the errors). A row holds three events (features, prediction, label), counted as the backtest
counts them. Measures events/s, best of --rounds, the measurements interleaved round by round:
  reader     open_log iterated alone (Parquet, JSON lines);
  backtest   Backtest.feed over open_log, end to end (what `streamdrift backtest` does but write files);
  monitors   Backtest.feed over the records read beforehand into a list: the monitoring path alone;
  baseline   what a user would write: River's ADWIN per feature, `update` value by value from each
             event, plus an ADWIN on the predictions and one on the errors, over the same records;
  adwin      the monitors alone with `adwin` configured on every feature instead of `ks`.
Then a cProfile of the monitors alone. Results go to benchmarks/results/backtest.md, each rate as a
ratio to the baseline of the same run.
"""

from __future__ import annotations

import os

# One core: no BLAS or Arrow thread pools. Set before numpy and pyarrow are imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import cProfile  # noqa: E402
import datetime  # noqa: E402
import gc  # noqa: E402
import io  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import pstats  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import sysconfig  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import orjson  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import river  # noqa: E402
from river.drift import ADWIN  # noqa: E402
from _machine import cpu_name  # noqa: E402  (benchmarks/, the folder of this script)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import detectors  # noqa: E402
from consumers.backtest import Backtest, Run  # noqa: E402
from stream.config import Config, load_config  # noqa: E402
from stream.history import HistoryRecord, open_log  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "backtest.md"
MODEL = "bench"
FEATURES = 20
GOAL = 200_000   # events/s on one core with the default detectors (the aim)
LABEL_DELAY_S = 3600
PROFILE_LINES = 15


# ---------------------------------------------------------------- the log and the configurations

def _normal(rng, j, n):
    return rng.normal(j, 1 + j / 10, n)


def _lognormal(rng, j, n):
    return rng.lognormal(0.0, 0.5 + j / 40, n)


def _uniform(rng, j, n):
    return rng.uniform(0.0, 10.0 + j, n)


DISTRIBUTIONS = (_normal, _lognormal, _uniform)   # feature j draws from DISTRIBUTIONS[j % 3]
DRIFTS = {   # feature -> what happens to its second half
    0: ("mean +0.5 sd", lambda x, j: x + 0.5 * (1 + j / 10)),
    1: ("log-normal spread x1.5 (median kept)", lambda x, j: x ** 1.5),
    2: ("uniform range 20% wider", lambda x, j: x * 1.2),
}


def make_table(rows: int, seed: int = 11) -> pa.Table:
    """One row a second from 2024-05-01; same seed, same table."""
    rng = np.random.default_rng(seed)
    second_half = np.arange(rows) >= rows // 2
    times = np.datetime64("2024-05-01T00:00:00", "us") + np.arange(rows).astype("timedelta64[s]")
    columns: dict[str, pa.Array] = {
        "event_id": pa.array([f"req-{i}" for i in range(rows)]),
        "timestamp": pa.array(times, pa.timestamp("us", "UTC")),
        "model_id": pa.array([MODEL] * rows),
        "model_version": pa.array(["v1"] * rows),
    }
    for j in range(FEATURES):
        values = DISTRIBUTIONS[j % 3](rng, j, rows)
        if j in DRIFTS:
            values = np.where(second_half, DRIFTS[j][1](values, j), values)
        columns[f"f{j}"] = pa.array(np.round(values, 4))
    score = rng.random(rows)
    prediction = np.where(score > 0.5, "deny", "approve")
    right = rng.random(rows) < np.where(second_half, 0.70, 0.85)   # the model errs twice as often later
    columns["score"] = pa.array(np.round(score, 4))
    columns["prediction"] = pa.array(prediction)
    columns["label"] = pa.array(np.where(right, prediction, np.where(score > 0.5, "approve", "deny")))
    columns["label_timestamp"] = pa.array(times + np.timedelta64(LABEL_DELAY_S, "s"), pa.timestamp("us", "UTC"))
    return pa.table(columns)


def write_logs(table: pa.Table, folder: Path) -> dict[str, Path]:
    paths = {"Parquet": folder / "log.parquet", "JSON lines": folder / "log.jsonl"}
    pq.write_table(table, paths["Parquet"])
    with open(paths["JSON lines"], "wb") as out:
        for row in table.to_pylist():
            out.write(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_UTC_Z))
    return paths


def config_text(feature_detector: str | None) -> str:
    """A configuration as a user writes it; feature_detector None: each feature's default (ks)."""
    detector = f"\n        detectors: [{{kind: {feature_detector}}}]" if feature_detector else ""
    features = "\n".join(f"      - name: f{j}{detector}" for j in range(FEATURES))
    return f"models:\n  - model_id: {MODEL}\n    features:\n{features}\n    prediction:\n      type: categorical\n"


def load(folder: Path, name: str, feature_detector: str | None) -> Config:
    path = folder / f"{name}.yaml"
    path.write_text(config_text(feature_detector), encoding="utf-8")
    config = load_config(path, environ={})   # no STREAMDRIFT_* override of the shell may change what is measured
    for detector in config.detector_configs():
        detectors.prepare(detector.kind, **detector.params)   # as the service does, before the first event
    return config


# ---------------------------------------------------------------- what is timed

Timed = tuple[int, float, Any]   # events, seconds, what it found: the backtest's Run, the baseline's drift count


def read_only(path: Path) -> Timed:
    started = time.perf_counter()
    events = sum(1 for item in open_log([path]) if type(item) is HistoryRecord)
    return events, time.perf_counter() - started, None


def end_to_end(path: Path, config: Config) -> Timed:
    started = time.perf_counter()
    backtest = Backtest({"bench": config})
    backtest.feed(open_log([path]))
    run = backtest.runs[0]
    return run.events, time.perf_counter() - started, run


def monitors_only(records: list[HistoryRecord], config: Config) -> Timed:
    started = time.perf_counter()
    backtest = Backtest({"bench": config})
    backtest.feed(records)
    run = backtest.runs[0]
    return run.events, time.perf_counter() - started, run


def river_baseline(records: list[HistoryRecord]) -> Timed:
    """A plain Python loop over the same events: ADWIN per feature value by value, an ADWIN on the
    predictions (as 0/1) and one on the errors, a label joined to its prediction by event id."""
    started = time.perf_counter()
    features: dict[str, ADWIN] = {}
    predictions, errors = ADWIN(), ADWIN()
    waiting: dict[str, str] = {}
    drifts = 0
    for item in records:
        event = item.event
        if item.role == "features":
            for name, value in event.features.items():
                detector = features.get(name) or features.setdefault(name, ADWIN())
                detector.update(value)
                drifts += detector.drift_detected
        elif item.role == "predictions":
            predictions.update(1.0 if event.prediction == "deny" else 0.0)
            drifts += predictions.drift_detected
            waiting[event.event_id] = event.prediction
        else:
            predicted = waiting.pop(event.event_id, None)
            if predicted is not None:
                errors.update(0.0 if predicted == event.label else 1.0)
                drifts += errors.drift_detected
    return len(records), time.perf_counter() - started, drifts


# ---------------------------------------------------------------- the run

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="rows of the log (default 150,000; --quick 20,000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the best of each measurement is kept")
    parser.add_argument("--quick", action="store_true", help="20,000 rows: to try the benchmark out")
    parser.add_argument("--no-adwin", action="store_true", help="skip the monitors with adwin on every feature")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"where the results go (default {RESULTS})")
    args = parser.parse_args()
    rows = args.rows or (20_000 if args.quick else 150_000)
    if rows < 2 or args.rounds < 1:
        parser.error("--rows must be at least 2 and --rounds at least 1")
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    logging.getLogger("consumers").setLevel(logging.WARNING)   # as the backtest command does
    load_before = os.getloadavg()
    began = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="backtest-bench-") as tmp:
        folder = Path(tmp)
        print(f"writing {rows:,} rows as Parquet and JSON lines ...", flush=True)
        paths = write_logs(make_table(rows), folder)
        sizes = {fmt: path.stat().st_size for fmt, path in paths.items()}
        default = load(folder, "default", None)
        adwin = load(folder, "adwin", "adwin")
        records = [item for item in open_log([paths["Parquet"]]) if type(item) is HistoryRecord]
        # The records stay alive for the whole run: keep the collector from walking them again and
        # again, which a backtest reading from a file never has to do.
        gc.collect()
        gc.freeze()

        measurements: dict[str, Callable[[], Timed]] = {
            "reader, Parquet": lambda: read_only(paths["Parquet"]),
            "reader, JSON lines": lambda: read_only(paths["JSON lines"]),
            "backtest end to end, Parquet": lambda: end_to_end(paths["Parquet"], default),
            "backtest end to end, JSON lines": lambda: end_to_end(paths["JSON lines"], default),
            "monitors alone (records read beforehand)": lambda: monitors_only(records, default),
            "baseline: River ADWIN per value, plain Python loop": lambda: river_baseline(records),
        }
        if not args.no_adwin:
            measurements["monitors alone, adwin on every feature"] = lambda: monitors_only(records, adwin)
        best: dict[str, Timed] = {}
        for r in range(args.rounds):
            for name, measure in measurements.items():
                gc.collect()
                timed = measure()
                print(f"round {r + 1}/{args.rounds}  {name:<52} {timed[0] / timed[1]:>12,.0f} events/s", flush=True)
                if name not in best or timed[1] < best[name][1]:
                    best[name] = timed
                del timed

        print("profiling the monitors alone, then the Parquet reader ...", flush=True)
        profiles = {"monitors": cProfile.Profile(), "reader": cProfile.Profile()}
        for name, run in (("monitors", lambda: monitors_only(records, default)),
                          ("reader", lambda: read_only(paths["Parquet"]))):
            gc.collect()
            profiles[name].enable()
            run()
            profiles[name].disable()
        gc.unfreeze()

    report = build_report(args, rows, sizes, len(records), best, profiles, load_before,
                          time.perf_counter() - began)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report, encoding="utf-8")
    print(report)
    print(f"written to {args.output}")


# ---------------------------------------------------------------- the report

def build_report(args, rows, sizes, events, best, profiles, load_before, elapsed) -> str:
    rate = {name: n / seconds for name, (n, seconds, _) in best.items()}
    base = rate["baseline: River ADWIN per value, plain Python loop"]
    e2e, alone = rate["backtest end to end, Parquet"], rate["monitors alone (records read beforehand)"]
    _, alone_seconds, monitor_run = best["monitors alone (records read beforehand)"]
    baseline_drifts = best["baseline: River ADWIN per value, plain Python loop"][2]
    command = shlex.join([_relative(sys.executable), _relative(sys.argv[0]), *sys.argv[1:]])
    lines = [
        "# Backtest throughput",
        "",
        f"Run {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on {cpu_name()}, "
        f"{os.cpu_count()} cores (one used: OMP/OpenBLAS and Arrow threads set to 1), Python "
        f"{platform.python_version()}, numpy {np.__version__}, River {river.__version__}, "
        f"pyarrow {pa.__version__}; load average {load_before[0]:.2f} at the start, "
        f"{os.getloadavg()[0]:.2f} at the end (the machine is shared: compare ratios, not absolute numbers). "
        f"{elapsed:.0f} s in all.",
        "",
        f"Command: `{command}`",
        "",
        f"Log: {rows:,} rows of one model, one a second, written as Parquet ({sizes['Parquet'] / 1e6:.1f} MB) and "
        f"JSON lines ({sizes['JSON lines'] / 1e6:.1f} MB): {FEATURES} numeric features (normal, log-normal, "
        f"uniform in turn; from the middle on "
        + ", ".join(f"f{j} {what}" for j, (what, _) in DRIFTS.items())
        + "), a categorical prediction with its score, its label known an hour later (label_timestamp) and "
        "twice as often wrong in the second half. "
        f"{events:,} events (features, prediction and label of each row, counted as the backtest counts them). "
        "Configuration: the default detectors, `ks` on each feature, `categorical` on the predictions, `ddm` on "
        "the errors; detectors prepared before timing, as the service does.",
        "",
        f"Events/s, best of {args.rounds} rounds (the measurements interleaved round by round); each ratio is "
        "against the baseline of the same run.",
        "",
        "| what | events/s | ratio to baseline |",
        "|---|---:|---:|",
        *[f"| {name} | {r:,.0f} | {r / base:.2f} |" for name, r in rate.items()],
        "",
        "- reader: `open_log([path])` iterated, the records counted; nothing else.",
        "- backtest end to end: `Backtest({...}).feed(open_log([path]))`, what `streamdrift backtest` does "
        "before writing its files (no progress bar).",
        "- monitors alone: the same `Backtest.feed` over the records of the Parquet log read beforehand into a "
        "list (kept out of the garbage collector's way with `gc.freeze()`).",
        "- baseline: a loop a user would write over the same records: River's `drift.ADWIN` `update` per "
        "feature value of each features event, an ADWIN on the predictions as 0/1, and one on the errors "
        "(a label joined to its prediction by event id in a dict). No reading, no data quality, no alerts.",
        "",
        f"What summary.json would say for the monitors alone: {monitor_run.events / monitor_run.seconds:,.0f} "
        f"events/s. `Run.seconds` times only the routing; the rest of `Backtest.feed` (the evidence values, "
        f"the per-chunk trace, quality and performance records) took "
        f"{1 - monitor_run.seconds / alone_seconds:.0%} of the monitors-alone time.",
        "",
        f"Alerts of the monitors-alone run (default detectors): {_alerts(monitor_run)}. "
        f"The baseline's ADWINs fired {baseline_drifts:,} times (River's ADWIN fires at every detected change; "
        "it has no alert lifecycle).",
        "",
        "## Goal",
        "",
        f"Goal: {GOAL:,} events/s on one core with the default detectors, end to end. "
        + _verdict("End to end from Parquet", e2e)
        + " " + _verdict("The monitors alone", alone)
        + " " + _verdict("From JSON lines", rate["backtest end to end, JSON lines"]),
        "",
        f"## Where the time goes: the monitors alone under cProfile (top {PROFILE_LINES})",
        "",
        "One `Backtest.feed` over the records read beforehand, default detectors. cProfile slows Python calls "
        "more than numpy's, so read the shares, not the seconds.",
        "",
        "By own time:",
        "",
        "```",
        *_profile(profiles["monitors"], "tottime"),
        "```",
        "",
        "By cumulative time:",
        "",
        "```",
        *_profile(profiles["monitors"], "cumulative"),
        "```",
        "",
        f"The other half of the end-to-end time: the Parquet reader alone under cProfile, by own time "
        f"(top {PROFILE_LINES}):",
        "",
        "```",
        *_profile(profiles["reader"], "tottime"),
        "```",
        "",
        "Reproduce: `.venv/bin/python benchmarks/backtest_bench.py` (`--rows`, `--rounds`, `--quick`, "
        "`--no-adwin`, `--output`).",
        "",
    ]
    return "\n".join(lines)


def _verdict(what: str, events_per_s: float) -> str:
    share = events_per_s / GOAL
    if share >= 1:
        return f"{what}: {events_per_s:,.0f} events/s, met ({share:.2f}x the goal)."
    return f"{what}: {events_per_s:,.0f} events/s, not met ({share:.0%} of the goal)."


def _alerts(run: Run) -> str:
    counts = Counter(f"{a.kind} {a.signal} ({a.status})" for a in run.alerts)
    return ", ".join(f"{k}: {n}" for k, n in sorted(counts.items())) or "none"


def _profile(profiler: cProfile.Profile, key: str) -> list[str]:
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(key).print_stats(PROFILE_LINES)
    text = out.getvalue()
    for prefix in (sysconfig.get_paths()["purelib"] + "/", sysconfig.get_paths()["stdlib"] + "/", f"{ROOT}/"):
        text = text.replace(prefix, "")
    rows = text.splitlines()
    start = next(i for i, line in enumerate(rows) if line.lstrip().startswith("ncalls"))
    total = next((line.strip() for line in rows if "function calls" in line), "")
    return [total, "", *[line for line in rows[start:] if line.strip()]]


def _relative(path: str) -> str:
    try:
        return str(Path(os.path.abspath(path)).relative_to(ROOT))
    except ValueError:
        return path


if __name__ == "__main__":
    main()
