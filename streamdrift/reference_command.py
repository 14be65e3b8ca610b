"""`streamdrift reference`: build a model's reference profile from its training set or a topic range; show one."""

from __future__ import annotations

import argparse
import math
import sys
from datetime import datetime, timezone
from pathlib import Path

from .cli import print_error, usage_error
from .log_options import add_mapping_arguments, mapping_from_args

EXAMPLES = """\
examples:
  streamdrift reference build --config my.yaml --model credit-risk --from train.parquet
  streamdrift reference build --config my.yaml --model fraud --from val.csv --feature-prefix f_ --version v7
  streamdrift reference build --config my.yaml --model fraud --from-topics \\
      --since 2024-05-01T00:00:00Z --until 2024-05-08T00:00:00Z --output fraud-may.json
  streamdrift reference show --config my.yaml --model credit-risk
  streamdrift reference show fraud-may.json

A profile holds, per feature (and for the prediction), what the drift detectors compare the stream with:
2,000 quantiles of a numeric signal, the frequency table of a categorical one. See docs/references.md.
"""
TOP_CATEGORIES = 5
REJECTS_SHOWN = 10


def register(sub) -> None:
    reference = sub.add_parser("reference", help="build or show a model's reference profile (its training baseline)",
                               description="Reference profiles: what a model's features and predictions looked "
                                           "like in its training set, for the service to compare the stream with "
                                           "from the first event.",
                               epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = reference.add_subparsers(dest="action", required=True, metavar="ACTION")

    build = actions.add_parser("build", help="build a profile from files or a topic time range, publish it",
                               description="Build a model's reference profile from training-set files (JSON lines, "
                                           "CSV, Parquet) or from its events on the live topics between two event "
                                           "times, print a summary per signal, and publish it to the references "
                                           "topic (and/or write it to a file).",
                               epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    build.add_argument("--config", type=Path, required=True, help="the service's configuration file")
    build.add_argument("--model", required=True, metavar="ID", help="the model_id, as configured")
    source = build.add_mutually_exclusive_group(required=True)
    source.add_argument("--from", dest="paths", nargs="+", metavar="PATH",
                        help="training or validation set files (.jsonl, .csv, .parquet; text may be .gz)")
    source.add_argument("--from-topics", action="store_true",
                        help="the model's events on the features and predictions topics (needs --since, --until)")
    build.add_argument("--since", type=_time, metavar="TIME", help="with --from-topics: first event time (ISO 8601)")
    build.add_argument("--until", type=_time, metavar="TIME", help="with --from-topics: end of the range, excluded")
    build.add_argument("--version", metavar="V", default=None,
                       help="build for this model version only (default: one profile for every version)")
    build.add_argument("--output", type=Path, metavar="FILE.json", help="also write the profile to this file")
    build.add_argument("--no-publish", action="store_true", help="do not publish to the references topic")
    build.add_argument("--seed", type=int, default=0, help="seed of the sample the quantiles come from (default 0)")
    build.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_mapping_arguments(build)
    build.set_defaults(func=run_build)

    show = actions.add_parser("show", help="print a profile from a file or the references topic",
                              description="Print a reference profile's summary per signal: from a file, or as "
                                          "published for a model. With --config, also check it against the "
                                          "model's configuration (exit 2 if it does not match).",
                              epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    show.add_argument("file", nargs="?", type=Path, metavar="FILE", help="a profile written with --output")
    show.add_argument("--config", type=Path, help="the service's configuration file")
    show.add_argument("--model", metavar="ID", help="show the profile published for this model (needs --config)")
    show.add_argument("--version", metavar="V", default=None, help="the profile built for this version")
    show.add_argument("--json", action="store_true", help="print the profile's JSON instead")
    show.set_defaults(func=run_show)


def _time(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time (e.g. 2024-05-01T00:00:00Z)") from None
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when


def _user_errors(func):
    """Errors the user can fix (files, columns, profiles, configuration) exit 2 with their message."""
    def run(args: argparse.Namespace) -> int:
        from stream.history import LogError
        from stream.profile import ProfileError

        try:
            return func(args)
        except (ProfileError, LogError) as exc:   # a ConfigError goes to the CLI, which prints every path (exit 2)
            return print_error(exc)
    return run


@_user_errors
def run_build(args: argparse.Namespace) -> int:
    from stream.config import load_config
    from stream.kafka_clients import ensure_topics
    from stream.profile import ProfileError
    from stream.profile_kafka import publish_profile

    if args.from_topics and (args.since is None or args.until is None):
        return usage_error("reference", "build --from-topics needs --since TIME and --until TIME")
    if not args.from_topics and (args.since or args.until):
        return usage_error("reference", "--since and --until go with --from-topics (a file is read whole)")
    mapping = mapping_from_args(args)
    if args.from_topics and (mapping != type(mapping)() or args.sort):
        return usage_error("reference", "the column options (--features, --prediction-column, ...) apply to files (--from) only")
    config = load_config(args.config)
    model = _model(config, args.model, args.config)
    if not args.no_publish:   # before a long read: an unreachable broker is found now, not after it
        ensure_topics(config.kafka, config.topics)
    profile = _build(args, config, model, mapping)
    print("\n".join(describe(profile)))
    if args.output:
        size = profile.write(args.output)
        print(f"Written to {args.output} ({size / 1000:,.0f} kB)")
    if not args.no_publish:
        try:
            size = publish_profile(config, profile)
        except ProfileError:
            if not args.output:   # the build may have taken long: keep its result
                kept = Path(f"reference-{profile.key.replace('/', '-')}.json")
                profile.write(kept)
                print(f"The profile is kept in {kept}; publishing it failed:", file=sys.stderr)
            raise
        print(f"Published to {config.topics.references} under key {profile.key!r} ({size / 1000:,.0f} kB of JSON, "
              f"sent gzip-compressed)")
    elif not args.output:
        print("Neither published (--no-publish) nor written (no --output): the profile above is all there is.")
    return 0


def _build(args, config, model, mapping):
    from tqdm import tqdm

    from stream.profile_files import build_from_files
    from stream.profile_kafka import build_from_topics

    unit = " messages" if args.from_topics else " rows"
    bar = tqdm(unit=unit, unit_scale=True, dynamic_ncols=True, file=sys.stderr,
               disable=True if args.no_progress else None)

    def progress(done: int, total: int | None) -> None:
        bar.total = total
        bar.update(done - bar.n)
    try:
        if args.from_topics:
            return build_from_topics(config, model, args.since, args.until, version=args.version, seed=args.seed,
                                     progress=progress)
        shown = [0]

        def reject(row) -> None:
            shown[0] += 1
            if shown[0] <= REJECTS_SHOWN:
                bar.write(f"  skipped: {row}", file=sys.stderr)
            elif shown[0] == REJECTS_SHOWN + 1:
                bar.write("  (more rows skipped)", file=sys.stderr)
        return build_from_files(model, args.paths, mapping, version=args.version, sort=args.sort, seed=args.seed,
                                progress=progress, on_reject=reject)
    finally:
        bar.close()


@_user_errors
def run_show(args: argparse.Namespace) -> int:
    from stream.config import load_config
    from stream.profile import ProfileError, ReferenceProfile
    from stream.profile_kafka import read_published

    if (args.file is None) == (args.model is None):
        return usage_error("reference", "give a profile FILE, or --config FILE --model ID for the published one")
    if args.model and args.config is None:
        return usage_error("reference", "--model needs --config (where the references topic is)")
    config = load_config(args.config) if args.config else None
    if args.file:
        profile = ReferenceProfile.read(args.file)
    else:
        _model(config, args.model, args.config)
        published = read_published(config, on_problem=lambda text: print(f"warning: {text}", file=sys.stderr))
        key = args.model if args.version is None else f"{args.model}/{args.version}"
        profile = published.get(key)
        if profile is None:
            keys = ", ".join(sorted(published)) or "none"
            raise ProfileError(f"no profile is published under key {key!r} on {config.topics.references} (keys: "
                               f"{keys}); build one with: streamdrift reference build --config {args.config} "
                               f"--model {args.model} --from FILE")
    print(profile.to_json().decode() if args.json else "\n".join(describe(profile)))
    if config is not None:
        model = _model(config, profile.model_id, args.config)
        profile.check(model)
        if not args.json:
            print(f"Matches the configuration of {model.model_id} in {args.config}.")
    return 0


def _model(config, model_id: str, path: Path):
    from stream.profile import ProfileError

    model = config.model(model_id)
    if model is None:
        known = ", ".join(m.model_id for m in config.models)
        raise ProfileError(f"{path} has no model {model_id!r} (its models: {known}): check --model")
    return model


def describe(profile) -> list[str]:
    """A summary per signal: count, missing, quantiles or top categories."""
    from stream.profile import NumericSummary

    version = "every version" if profile.model_version is None else f"version {profile.model_version}"
    built = profile.built_at.strftime("%Y-%m-%d %H:%M:%SZ")
    lines = [f"Reference profile of {profile.model_id} ({version}), built {built} from {profile.source.describe()}: "
             f"{profile.rows:,} {'rows' if profile.source.kind == 'files' else 'events'}"
             + (f" ({profile.source.skipped:,} not valid, skipped)" if profile.source.skipped else "")]
    width = max([len("signal"), *map(len, profile.signals)])
    lines.append(f"  {'signal':{width}}  {'type':11}  {'values':>11}  {'missing':>9}  summary")
    for name, s in profile.signals.items():
        if isinstance(s, NumericSummary):
            q = s.quantiles
            at = (lambda p: q[round(p * (len(q) - 1))]) if q else (lambda p: float("nan"))
            text = (f"min {_num(s.min)}  p5 {_num(at(0.05))}  p25 {_num(at(0.25))}  p50 {_num(at(0.5))}  "
                    f"p75 {_num(at(0.75))}  p95 {_num(at(0.95))}  max {_num(s.max)}  mean {_num(s.mean)}  "
                    f"sd {_num(s.std)}")
            extra = [f"{n:,} {what}" for n, what in ((s.out_of_range, "outside min/max"), (s.wrong_type, "text"))
                     if n]
            if extra:
                text += f"  ({', '.join(extra)}, left out)"
        else:
            total = s.count or 1
            top = [f"{c} {n / total:.1%}" for c, n in list(s.frequencies.items())[:TOP_CATEGORIES]]
            more = len(s.frequencies) - TOP_CATEGORIES
            text = ", ".join(top) + (f", ... ({len(s.frequencies)} categories)" if more > 0 else "")
        lines.append(f"  {name:{width}}  {s.type:11}  {s.count:>11,}  {s.missing:>9,}  {text}")
    return lines


def _num(x: float | None) -> str:
    """Four significant digits, without an exponent for everyday magnitudes: 15,710 0.0034 53.82."""
    if x is None:
        return "-"
    if x == 0 or 1e-3 <= abs(x) < 1e7:
        digits = max(0, 3 - math.floor(math.log10(abs(x)))) if x else 0
        text = f"{x:,.{digits}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return f"{x:.4g}"
