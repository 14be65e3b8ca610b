"""`streamdrift report`: one self-contained HTML page from a backtest's results, or from the live alert and
status topics."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from .cli import print_error, usage_error

EXAMPLES = """\
examples:
  streamdrift backtest logs/*.parquet --config strict.yaml --config lenient.yaml --output compare/
  streamdrift report compare/                              # writes compare/report.html
  streamdrift report compare/ --output may.html --png plots/
  streamdrift report --config my.yaml --model credit-risk --since 2024-05-01T00:00:00Z

From a backtest folder (one sub-folder per configuration): a summary of the alerts of every configuration
(side by side, with first-alert delays when there are several), then per model each signal's statistic
against its threshold over event time, the evidence at each alert, data quality and performance.
From the live topics (--config): the alerts timeline, every signal's current status, and each drift
alert's evidence read back from Kafka (as streamdrift explain shows it).
The page needs nothing else to open: the plots are embedded PNGs. See docs/report.md.
"""


def register(sub) -> None:
    report = sub.add_parser("report", help="an HTML report of a backtest, or of the live alerts",
                            description="Write one self-contained HTML report (plots embedded, opens offline) of a "
                                        "backtest's results folder, or of the alerts and signal states on the "
                                        "live topics of a configuration.",
                            epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    report.add_argument("folder", nargs="?", type=Path, metavar="DIR",
                        help="a streamdrift backtest --output folder (one sub-folder per configuration)")
    report.add_argument("--config", type=Path, metavar="FILE",
                        help="instead of DIR: report from the live alert and status topics of this configuration")
    report.add_argument("--model", metavar="ID", help="with --config: this model only")
    report.add_argument("--since", type=_time, metavar="TIME",
                        help="with --config: alerts detected at or after this event time (ISO 8601)")
    report.add_argument("--output", "-o", type=Path, metavar="FILE.html",
                        help="where the page goes (default: DIR/report.html, or streamdrift-report.html)")
    report.add_argument("--png", type=Path, metavar="DIR", help="also write every plot as a PNG file into DIR")
    report.add_argument("--max-alerts", type=int, default=30, metavar="N",
                        help="evidence drawn for at most N alerts per configuration (live: the N most recent; "
                             "default 30)")
    report.set_defaults(func=run)


def _time(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time (e.g. 2024-05-01T00:00:00Z)") from None
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when


def run(args: argparse.Namespace) -> int:
    from .report_data import ReportError

    if (args.folder is None) == (args.config is None):
        return usage_error("report", "give a backtest results folder DIR, or --config FILE for the live topics")
    if args.folder is not None and (args.model or args.since):
        return usage_error("report", "--model and --since go with --config (a backtest folder is reported whole)")
    if args.max_alerts < 0:
        return usage_error("report", f"--max-alerts must be 0 or more, not {args.max_alerts}")
    started = time.perf_counter()
    try:
        if args.folder is not None:
            from .report_backtest import backtest_report
            from .report_data import load_backtest

            runs = load_backtest(args.folder)
            page = backtest_report(runs, args.folder, args.max_alerts)
            output = args.output or args.folder / "report.html"
        else:
            from stream.config import load_config

            from .report_live import live_report

            config = load_config(args.config)
            if args.model and config.model(args.model) is None:
                known = ", ".join(m.model_id for m in config.models)
                raise ReportError(f"{args.config} has no model {args.model!r} (its models: {known}): check --model")
            page = live_report(config, args.model, args.since, args.max_alerts,
                               on_problem=lambda text: print(f"warning: {text}", file=sys.stderr))
            output = args.output or Path("streamdrift-report.html")
        size = page.write(output)
        if args.png:
            written = page.write_pngs(args.png)
            print(f"{len(written)} plots written to {args.png}/")
    except ReportError as exc:
        return print_error(exc)
    except OSError as exc:
        return print_error(f"{exc.filename}: {exc.strerror}")
    print(f"Report written to {output} ({size / 1e6:.1f} MB, {len(page.images)} plots, "
          f"{time.perf_counter() - started:.1f} s)")
    return 0
