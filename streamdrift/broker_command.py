"""`streamdrift broker`: a local Kafka broker until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    broker = sub.add_parser("broker", help="run a local Kafka broker until Ctrl-C",
                            description="Start a broker (STREAMDRIFT_BOOTSTRAP, testcontainers, or local jars) "
                                        "and run it until Ctrl-C or SIGTERM. Its data folder is removed when it "
                                        "stops, unless --keep-data.")
    broker.add_argument("--port", type=int, default=None, help="listener port of a local broker (default: a free one)")
    broker.add_argument("--keep-data", action="store_true",
                        help="leave the local broker's data folder in place when it stops (its path is printed)")
    broker.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stream.broker import main

    main(port=args.port, keep_data=args.keep_data)
    return 0
