"""`streamdrift backtest`: what the monitors of one or more configurations would have said about historical logs."""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections import Counter
from pathlib import Path

from .log_options import add_mapping_arguments, mapping_from_args

EXAMPLES = """\
examples:
  streamdrift backtest logs/2024-05-*.parquet --config my.yaml
  streamdrift backtest logs/*.jsonl --config strict.yaml --config lenient.yaml --output compare/
  streamdrift report compare/                     # the HTML report of a backtest

Writes, per configuration, into OUTPUT/NAME/ (NAME: the configuration file's name without .yaml):
  alerts.jsonl       the alerts, as the service would publish them (same ids after a replay into empty topics)
  trace.jsonl        each detector's statistic and threshold over event time
  quality.jsonl      missing / out-of-range / wrong-type rates per window of 1,000 events
  performance.jsonl  accuracy, macro-F1 (or MAE, RMSE) per version and segment over event time
  evidence.jsonl     at each drift alert, the signal's reference against its recent values
  summary.json       what ran, how fast, and the alerts per kind
No broker is needed; `reference: training` models use the profile given with --profile.
"""


def register(sub) -> None:
    backtest = sub.add_parser("backtest", help="run configurations offline over historical logs; write their alerts",
                              description="Run the monitors of one or more configurations over historical logs "
                                          "(JSONL, CSV, Parquet) in event-time order, without a broker, and write "
                                          "the alerts they would have raised.",
                              epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    backtest.add_argument("logs", nargs="+", metavar="LOG", help="log files (.jsonl, .csv, .parquet)")
    backtest.add_argument("--config", type=Path, action="append", required=True, metavar="FILE",
                          help="a configuration to run (repeat it to compare several side by side)")
    backtest.add_argument("--output", type=Path, default=Path("backtest"), metavar="DIR",
                          help="where the results go (default: ./backtest)")
    backtest.add_argument("--profile", type=Path, action="append", default=[], metavar="FILE",
                          help="a reference profile file (streamdrift reference build --output) for models with "
                               "reference: training")
    backtest.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_mapping_arguments(backtest)
    backtest.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from consumers.backtest import Backtest
    from stream.config import load_config
    from stream.errors import ConfigError
    from stream.history import open_log
    from stream.profile import ReferenceProfile

    logging.getLogger("consumers").setLevel(logging.WARNING)   # the monitors' own logging is for the service
    names = [path.name.removesuffix(".yaml").removesuffix(".yml") for path in args.config]
    if len(set(names)) != len(names):
        raise ConfigError("--config", [("(options)", f"two configurations share a name ({', '.join(names)}): "
                                                     "their results would land in the same folder; rename one")])
    configs = {name: load_config(path) for name, path in zip(names, args.config)}
    profiles = {}
    for path in args.profile:
        profile = ReferenceProfile.read(path)
        profiles[(profile.model_id, profile.model_version)] = profile
    log = open_log(args.logs, mapping_from_args(args), sort=args.sort,
                   on_disorder=lambda text: tqdm.write(f"warning: {text}"))
    backtest = Backtest(configs, profiles)
    started = time.perf_counter()
    with tqdm(total=_estimate(log), unit=" events", disable=args.no_progress, dynamic_ncols=True,
              smoothing=0.1) as bar:
        backtest.feed(_counted(log, bar))
    seconds = time.perf_counter() - started
    for run_ in backtest.runs:
        _write(args.output / run_.name, run_, log.stats.rejected, args.logs, seconds)
    _compare(backtest.runs, args.output, seconds)
    return 0


def _estimate(log) -> int | None:
    rows = log.estimate_rows()
    return None if rows is None else rows * 3   # a row holds up to three events


def _counted(log, bar, every: int = 4096):
    n = 0
    for item in log:
        n += 1
        if n == every:
            bar.update(n)
            n = 0
        yield item
    bar.update(n)


def _write(folder: Path, run, rejected: int, logs: list[str], seconds: float) -> None:
    """`seconds`: the whole backtest's run time (reading the logs and every configuration's monitors),
    what a user waits; `monitor_seconds`: this configuration's monitors alone."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "alerts.jsonl", "w", encoding="utf-8") as out:
        for alert in run.alerts:
            out.write(alert.model_dump_json(exclude_none=True) + "\n")
    for name in ("trace", "quality", "performance", "evidence"):
        with open(folder / f"{name}.jsonl", "w", encoding="utf-8") as out:
            for row in getattr(run, name):
                out.write(json.dumps(row) + "\n")
    summary = {"configuration": run.name, "logs": [str(p) for p in logs], "events": run.events,
               "rejected_rows": rejected, "seconds": round(seconds, 3),
               "events_per_second": round(run.events / seconds) if seconds else None,
               "monitor_seconds": round(run.seconds, 3),
               "alerts": dict(Counter(f"{a.kind}/{a.status}" for a in run.alerts))}
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


def _compare(runs, output: Path, seconds: float) -> None:
    """Side by side: per model, signal and scope, when each configuration first alerted."""
    print(f"\n{'alerts (drifting)':<60}" + "".join(f"{run.name:>24}" for run in runs))
    keys = sorted({(a.model_id, a.kind, a.signal, a.scope) for run in runs for a in run.alerts if a.status == "drifting"})
    for key in keys:
        cells = []
        for run in runs:
            hits = [a for a in run.alerts if (a.model_id, a.kind, a.signal, a.scope) == key and a.status == "drifting"]
            cells.append(f"{len(hits)} from {min(a.detected_at for a in hits):%Y-%m-%d %H:%M}" if hits else "-")
        model, kind, signal, scope = key
        label = f"{model} {kind} {signal}" + ("" if scope in ("all",) else f" [{scope}]")
        print(f"{label:<60}" + "".join(f"{c:>24}" for c in cells))
    print("\n" + "  ".join(f"{run.name}: {len(run.alerts)} alerts" for run in runs)
          + f"; {runs[0].events:,} events in {seconds:,.1f} s ({runs[0].events / max(seconds, 1e-9):,.0f} events/s"
          + (f", {len(runs)} configurations on one read)" if len(runs) > 1 else ")"))
    print(f"results in {output}/ (streamdrift report {output} makes the HTML report)")
