"""The options every command that reads historical logs shares: which column holds what."""

from __future__ import annotations

import argparse


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def add_mapping_arguments(parser: argparse.ArgumentParser) -> None:
    """The column-mapping options, shared by every command that reads logs (replay, backtest)."""
    from stream.history_schema import COLUMN_ROLES

    group = parser.add_argument_group("columns", "which column holds what (defaults: the role's own name)")
    for role, (default, flag) in COLUMN_ROLES.items():
        group.add_argument(flag, dest=f"{role}_column", metavar="COLUMN", default=None,
                           help=f"the {role.replace('_', ' ')} (default: {default!r}"
                                + (")" if role in ("event_id", "timestamp", "model_id") else ", if present)"))
    group.add_argument("--features", type=_names, action="extend", default=None, metavar="COL,COL",
                       help="the feature columns (default: every column no other option names)")
    group.add_argument("--feature-prefix", default=None, metavar="PREFIX",
                       help="the columns starting with PREFIX are the features, named without it (e.g. f_)")
    group.add_argument("--segments", type=_names, action="extend", default=[], metavar="COL,COL",
                       help="columns to slice by (sent as the events' segment), not features")
    group.add_argument("--ignore-columns", type=_names, action="extend", default=[], metavar="COL,COL",
                       help="columns that are not features")
    group.add_argument("--model-id", default=None, metavar="MODEL", help="one model id for every row")
    group.add_argument("--model-version", default=None, metavar="VERSION",
                       help="the model version of rows that have none (default: unversioned)")
    group.add_argument("--timestamp-format", default=None, metavar="FORMAT",
                       help="strptime format of the times, if not ISO 8601 or epoch numbers (e.g. '%%d/%%m/%%Y %%H:%%M')")
    group.add_argument("--timestamp-unit", choices=("s", "ms", "us", "ns"), default=None,
                       help="unit of epoch-number times (default: guessed from their size)")
    group.add_argument("--format", choices=("jsonl", "csv", "parquet"), default=None,
                       help="the logs' format (default: from each file's suffix)")
    group.add_argument("--sort", action="store_true",
                       help="sort each file by time in memory (for files that are not sorted; costs about the "
                            "file's size in memory)")


def mapping_from_args(args: argparse.Namespace):
    from stream.history import ColumnMapping
    from stream.history_schema import COLUMN_ROLES
    from stream.errors import ConfigError

    try:
        return ColumnMapping(**{role: getattr(args, f"{role}_column") for role in COLUMN_ROLES},
                             segments=tuple(args.segments), features=tuple(args.features) if args.features else None,
                             feature_prefix=args.feature_prefix, ignore=tuple(args.ignore_columns),
                             fixed_model_id=args.model_id, fixed_model_version=args.model_version,
                             timestamp_format=args.timestamp_format, timestamp_unit=args.timestamp_unit,
                             format=args.format)
    except ValueError as exc:
        raise ConfigError("column mapping", [("options", str(exc))]) from None


