"""`streamdrift demo`: a local broker, the service, a drifting workload; alerts and metrics shown."""

from __future__ import annotations

import argparse
from pathlib import Path

DEMO_CONFIG = Path(__file__).resolve().parent.parent / "examples" / "demo.yaml"


def register(sub) -> None:
    demo = sub.add_parser("demo", help="local broker + service + a drifting workload; alerts and metrics shown",
                          description="Start a local Kafka broker, the monitor service and a workload whose "
                                      "features partly drift halfway; print alerts as they arrive.")
    demo.add_argument("--duration", type=float, default=60.0, metavar="SECONDS",
                      help="stop after this many seconds (default 60; drift starts halfway)")
    demo.add_argument("--rate", type=int, default=1000, metavar="EVENTS_PER_S",
                      help="events published per second (default 1000)")
    demo.add_argument("--config", type=Path, default=DEMO_CONFIG, help="service configuration (default: the example)")
    demo.add_argument("--metrics-port", type=int, default=9108, help="metrics port (default 9108; a free one if taken)")
    demo.add_argument("--broker-port", type=int, default=None, help="local broker port (default: a free one)")
    demo.add_argument("--seed", type=int, default=7, help="workload random seed")
    demo.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from producers.demo import run_demo

    return run_demo(duration=args.duration, rate=args.rate, config_path=args.config,
                    metrics_port=args.metrics_port, broker_port=args.broker_port, seed=args.seed)
