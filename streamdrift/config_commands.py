"""`streamdrift check-config` and `streamdrift schema`: the contracts, checked and printed."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    check = sub.add_parser("check-config", help="validate a configuration file",
                           description="Validate a configuration file; print every error with its path.")
    check.add_argument("file", type=Path)
    check.set_defaults(func=check_config)

    schema = sub.add_parser("schema", help="print the events' JSON Schemas",
                            description="Print the JSON Schema of every message, for producers in other languages.")
    schema.set_defaults(func=print_schema)


def check_config(args: argparse.Namespace) -> int:
    from stream.config import load_config

    config = load_config(args.file)
    features = sum(len(m.features) for m in config.models)
    print(f"{args.file}: OK ({len(config.models)} model(s), {features} feature(s), "
          f"brokers {config.kafka.bootstrap_servers}, security {config.kafka.security_protocol})")
    return 0


def print_schema(args: argparse.Namespace) -> int:
    from stream.events import json_schemas

    print(json_schemas())
    return 0
