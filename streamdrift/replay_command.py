"""`streamdrift replay`: publish historical feature, prediction and label logs to Kafka in event-time order."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from .log_options import add_mapping_arguments, mapping_from_args

EXAMPLES = """\
examples:
  streamdrift replay logs/2024-05-*.parquet --bootstrap broker:9092
  streamdrift replay preds.csv --model-id fraud --timestamp-column ts --feature-prefix f_ --speed 60
  streamdrift replay logs/*.jsonl --dry-run                  # validate every row, publish nothing
  streamdrift replay logs/*.jsonl --config my.yaml --resume  # continue after Ctrl-C

Columns named event_id, timestamp, model_id, model_version, prediction, score, label and label_timestamp
are taken as such; every other column is a feature. See docs/replay.md.
"""
REJECTS_SHOWN = 10


def register(sub) -> None:
    replay = sub.add_parser("replay", help="publish historical logs (JSONL, CSV, Parquet) to Kafka in time order",
                            description="Publish the feature, prediction and label records of historical logs "
                                        "through the SDK, in event-time order across files.",
                            epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    replay.add_argument("logs", nargs="+", metavar="LOG", help="log files (.jsonl, .csv, .parquet; text may be .gz)")
    kafka = replay.add_argument_group("Kafka")
    kafka.add_argument("--bootstrap", default="localhost:9092", help="HOST:PORT of the broker (default %(default)s)")
    kafka.add_argument("--config", type=Path, default=None, help="take Kafka settings and topic names from this file")
    add_mapping_arguments(replay)
    run_group = replay.add_argument_group("running")
    pacing = run_group.add_mutually_exclusive_group()
    pacing.add_argument("--rate", type=float, default=None, metavar="EVENTS_PER_S",
                        help="publish at most this many events a second (default: as fast as possible)")
    pacing.add_argument("--speed", type=float, default=None, metavar="FACTOR",
                        help="follow the log's own pace, this many times faster (60: an hour a minute)")
    run_group.add_argument("--dry-run", action="store_true",
                           help="validate every row and report the bad ones; publish nothing, no broker needed")
    run_group.add_argument("--resume", action="store_true", help="continue an interrupted replay from its position")
    run_group.add_argument("--position", type=Path, default=None, metavar="FILE",
                           help="position file (default: .streamdrift-replay-position.json beside the first log)")
    run_group.add_argument("--rejects", type=Path, default=None, metavar="FILE",
                           help="where bad rows go, as JSON lines (default: replay-rejects.jsonl beside the first "
                                "log; with --dry-run, only when given)")
    run_group.add_argument("--no-progress", action="store_true", help="no progress bar")
    replay.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from stream.history import open_log

    # kafka-python's network thread complains whenever the reading thread holds the GIL for 0.1 s: noise here.
    logging.getLogger("kafka.net.selector").setLevel(logging.ERROR)
    say = tqdm.write
    mapping = mapping_from_args(args)
    log = open_log(args.logs, mapping, sort=args.sort, on_disorder=lambda text: say(f"warning: {text}"))
    if args.dry_run:
        return _dry_run(log, args)
    return _replay(log, args)


def _reporter(rejects: Path | None):
    shown = [0]

    def report(row) -> None:
        shown[0] += 1
        if shown[0] <= REJECTS_SHOWN:
            print(f"  bad row: {row}", file=sys.stderr)
        elif shown[0] == REJECTS_SHOWN + 1:
            print("  (more bad rows" + (f": all of them are in {rejects})" if rejects else ")"), file=sys.stderr)
    return report


def _dry_run(log, args: argparse.Namespace) -> int:
    from producers.replay import check_log

    print(f"Checking {len(log.files)} file(s), publishing nothing.")
    result = check_log(log, args.rejects, on_reject=_reporter(args.rejects))
    records = ", ".join(f"{n:,} {role}" for role, n in result.records.items())
    print(f"{result.rows:,} rows: {records}; {result.rejected:,} bad row(s)"
          + (f", written to {args.rejects}" if args.rejects and result.rejected else ""))
    if result.first:
        print(f"event time {result.first} .. {result.last}")
    for name, count in result.out_of_order.items():
        print(f"{name}: {count:,} row(s) out of time order (sort the file, or replay with --sort)")
    return 1 if result.rejected or result.out_of_order else 0


def _replay(log, args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from producers.replay import DEFAULT_REJECTS, Pacing, Replay, default_position
    from producers.sdk import EventProducer
    from stream.config import KafkaConfig, TopicsConfig, load_config
    from stream.kafka_clients import ensure_topics

    if args.config:
        config = load_config(args.config)
        kafka, topics = config.kafka, config.topics
    else:
        kafka, topics = KafkaConfig(bootstrap_servers=args.bootstrap), TopicsConfig()
    position = args.position or default_position(args.logs)
    rejects = args.rejects or position.parent / DEFAULT_REJECTS
    stop = _stop_on_signals()
    ensure_topics(kafka, topics)
    estimate = log.estimate_rows()
    with EventProducer(kafka, topics, linger_ms=20, batch_size=512 * 1024) as publisher:
        replay = Replay(log, publisher, position=position, rejects=rejects, resume=args.resume,
                        pacing=Pacing(args.rate, args.speed), stop=stop, on_reject=_reporter(rejects))
        if replay.state.complete:
            print(f"Nothing to do: the replay recorded in {position} is complete.")
            return 0
        if replay.state.consumed:
            print(f"Resuming after {replay.state.consumed:,} records (reading the logs up to there again, "
                  "publishing nothing)")
        bar = tqdm(initial=replay.state.consumed, unit=" events", unit_scale=True, dynamic_ncols=True,
                   smoothing=0.1, disable=True if args.no_progress else None, file=sys.stderr)

        def progress(state) -> None:
            bar.update(state.consumed - bar.n)
            if estimate and log.stats.rows:   # the events per row read so far, times the rows there are
                bar.total = max(state.consumed, round(estimate * state.consumed / log.stats.rows))
        replay.on_progress = progress
        try:
            result = replay.run()
        finally:
            bar.close()
    state = result.state
    published = ", ".join(f"{n:,} {role}" for role, n in state.published.items())
    print(f"Published {published} to {kafka.bootstrap_servers} ({topics.features}, {topics.predictions}, "
          f"{topics.labels}) in {result.seconds:.1f} s")
    if state.rejected:
        print(f"{state.rejected:,} bad row(s) set aside in {rejects}")
    for name, count in result.out_of_order.items():
        print(f"{name}: {count:,} row(s) were out of time order and went out late (replay with --sort to order them)")
    if result.interrupted:
        print(f"Interrupted: the position is saved in {position}. Continue with the same command and --resume.")
        return 130
    return 0


def _stop_on_signals() -> threading.Event:
    """SIGINT/SIGTERM: stop after the record in hand, flush, save the position. A second one: leave at once
    (the last saved position stands)."""
    stop = threading.Event()

    def handle(signum, _frame) -> None:
        if stop.is_set():
            os._exit(128 + signum)
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    return stop
