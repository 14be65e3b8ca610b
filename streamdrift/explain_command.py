"""`streamdrift explain`: an alert's evidence read back from Kafka, against what came before: what moved."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cli import print_error, usage_error

EXAMPLES = """\
examples:
  streamdrift explain 268b4db6-b389-59ad-8dd2-a55d0ccfdb40 --config my.yaml
  streamdrift explain 268b4db6 --config my.yaml --plot f0.png        # a unique start of the id will do
  kcat -b broker:9092 -X isolation.level=read_committed -C -t streamdrift.alerts -o -1 -e > alert.json
  streamdrift explain --alert alert.json --config my.yaml

The alert points at its evidence: a topic partition and offsets. Compared, for the alert's signal (a feature,
the predictions; for concept drift and performance the labels, since explain does not re-join errors):
  before  the model's published reference profile (reference: training), or the N events of the model just
          before the evidence, or, when there are none (a signal's first alert starts at the beginning of
          the stream), the first N events of the evidence
  after   of the last N events up to the alert, the stretch that differs most from before (--fixed: all N)
Shown: quantiles (numbers) or category frequencies, largest change first; mean, std and missing share.
"""


def register(sub) -> None:
    explain = sub.add_parser("explain", help="show what moved for one alert: its evidence read back from Kafka",
                             description="Find an alert on the alert topic (read_committed), read its evidence and "
                                         "what came before from the topic it points at, and show what moved in "
                                         "its signal: quantiles or category frequencies, before against after.",
                             epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    explain.add_argument("alert_id", nargs="?", metavar="ALERT_ID", help="the alert's id, or a unique start of it")
    explain.add_argument("--alert", type=Path, metavar="FILE.json",
                         help="the alert's JSON instead of its id ('-': standard input)")
    explain.add_argument("--config", type=Path, required=True, metavar="FILE",
                         help="the configuration of the service that raised the alert (its broker and topics)")
    explain.add_argument("--events", type=int, default=1000, metavar="N",
                         help="events on each side: before, and the most recent before the alert (default 1000)")
    explain.add_argument("--fixed", action="store_true",
                         help="compare all N events up to the alert, not the stretch of them that differs most")
    explain.add_argument("--plot", type=Path, metavar="FILE.png", help="also draw before against after into a PNG")
    explain.add_argument("--rows", type=int, default=12, metavar="N", help="table rows shown (default 12)")
    explain.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stream.config import load_config
    from stream.events import DriftAlert

    from .explain import describe, explain, find_alert

    if (args.alert_id is None) == (args.alert is None):
        return usage_error("explain", "give an ALERT_ID, or the alert's JSON with --alert FILE")
    if args.events < 1:
        return usage_error("explain", f"--events must be at least 1, not {args.events}")
    config = load_config(args.config)
    if args.alert is not None:
        try:
            text = sys.stdin.read() if str(args.alert) == "-" else args.alert.read_text(encoding="utf-8")
            lines = [line for line in text.splitlines() if line.strip()]
            alert = DriftAlert.model_validate_json(lines[-1] if len(lines) > 1 else text)
        except OSError as exc:
            return print_error(f"{args.alert}: cannot read: {exc.strerror}")
        except (ValueError, IndexError) as exc:
            return print_error(f"{args.alert} does not hold an alert's JSON (a DriftAlert, as on the alert topic): "
                               f"{str(exc).splitlines()[0] if str(exc) else 'empty'}")
    else:
        alert = find_alert(config, args.alert_id, on_problem=lambda text: print(f"warning: {text}", file=sys.stderr))
    explanation = explain(config, alert, events=args.events, fixed=args.fixed)
    print("\n".join(describe(explanation, args.rows)))
    if args.plot:
        from .report_plots import comparison_figure, save

        size = save(comparison_figure(explanation.comparison, _title(explanation)), args.plot)
        print(f"\nPlot written to {args.plot} ({size / 1000:,.0f} kB)")
    return 0


def _title(explanation) -> str:
    a = explanation.alert
    scope = "" if a.scope == "all" else f" [{a.scope}]"
    return f"{a.model_id}/{a.signal}{scope}: {a.kind} at {a.detected_at:%Y-%m-%d %H:%M}Z"
