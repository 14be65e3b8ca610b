"""The `streamdrift` command line: one parser, one subcommand per module, errors reported without tracebacks."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from stream.errors import ConfigError, StreamdriftError

# Each module defines register(subparsers), which adds its command and sets `func`.
COMMAND_MODULES = (
    "streamdrift.demo_command",
    "streamdrift.serve_command",
    "streamdrift.config_commands",
    "streamdrift.workload_command",
    "streamdrift.broker_command",
    "streamdrift.backtest_command",
    "streamdrift.replay_command",
    "streamdrift.reference_command",
    "streamdrift.alerts_command",
    "streamdrift.report_command",
    "streamdrift.explain_command",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamdrift",
        description="Streaming drift monitor for machine-learning models, over Kafka.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def print_error(message: object, status: int = 2) -> int:
    """How a command reports an error the user can act on: "error: ..." on stderr, no traceback. Returns
    `status`, for the command to exit with."""
    print(f"error: {message}", file=sys.stderr)
    return status


def usage_error(command: str, message: str) -> int:
    """Options of `command` that do not go together: what is wrong, and where its help is."""
    return print_error(f"{message} (see streamdrift {command} --help)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    try:
        return args.func(args)
    except ConfigError as exc:
        return print_error(exc, 2)
    except StreamdriftError as exc:
        return print_error(exc, 1)
    except KeyboardInterrupt:
        return 130
