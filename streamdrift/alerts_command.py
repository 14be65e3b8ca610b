"""`streamdrift alerts` and `streamdrift status`: what the service published, read back from its alert topic
(a tail, filtered) and its compacted status topic (every signal's current state)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

ALERT_EXAMPLES = """\
examples:
  streamdrift alerts --config my.yaml                          # new alerts as they come, until Ctrl-C
  streamdrift alerts --bootstrap broker:9092 --from-beginning --model fraud --kind data_drift
  streamdrift alerts --config my.yaml --severity critical --json | jq .message
  streamdrift alerts --config my.yaml --from-beginning --exit-at-end --status drifting

Alerts are read as read_committed consumers read them: only those of committed checkpoints, each once.
"""
STATUS_EXAMPLES = """\
examples:
  streamdrift status --config my.yaml                 # every signal: drifting first, then resolved, then ok
  streamdrift status --bootstrap broker:9092 --drifting --model fraud
  streamdrift status --config my.yaml --json          # one SignalStatus per line
"""
STATE_ORDER = {"drifting": 0, "resolved": 1, "ok": 2}
# stream.events.AlertKind, spelled out so that `streamdrift --help` need not import pydantic (a test keeps them equal).
KINDS = ("data_drift", "prediction_drift", "concept_drift", "data_quality", "performance")


def register(sub) -> None:
    alerts = sub.add_parser("alerts", help="print drift alerts from the alert topic, as they are published",
                            description="Tail the alert topic and print each DriftAlert as a line (or JSON), "
                                        "filtered; from now on unless --from-beginning. Ctrl-C stops.",
                            epilog=ALERT_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    _kafka_arguments(alerts, "alerts")
    chosen = alerts.add_argument_group("which alerts (each option may be repeated; alerts matching all are shown)")
    chosen.add_argument("--model", action="append", metavar="MODEL_ID", help="only alerts of this model")
    chosen.add_argument("--kind", action="append", choices=KINDS, help="only alerts of this kind")
    chosen.add_argument("--severity", action="append", choices=("info", "warning", "critical"),
                        help="only alerts of this severity (resolved alerts are info)")
    chosen.add_argument("--status", choices=("drifting", "resolved"),
                        help="only alerts that a drift started (drifting) or ended (resolved)")
    chosen.add_argument("--from-beginning", action="store_true",
                        help="start with every alert on the topic (default: only alerts published from now on)")
    chosen.add_argument("--exit-at-end", action="store_true",
                        help="stop at the end of the topic instead of waiting for new alerts")
    alerts.add_argument("--json", action="store_true", help="one JSON object per line: the DriftAlert as published")
    alerts.set_defaults(func=run_alerts)

    status = sub.add_parser("status", help="print the current state of every signal (what is drifting now)",
                            description="Read the compacted status topic to its end and print the current state "
                                        "of every signal the service watches: drifting, resolved or ok.",
                            epilog=STATUS_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    _kafka_arguments(status, "status")
    status.add_argument("--model", action="append", metavar="MODEL_ID", help="only signals of this model")
    status.add_argument("--drifting", action="store_true", help="only the signals drifting now")
    status.add_argument("--json", action="store_true", help="one JSON object per line: the SignalStatus")
    status.set_defaults(func=run_status)


def _kafka_arguments(parser: argparse.ArgumentParser, role: str) -> None:
    kafka = parser.add_argument_group("Kafka")
    kafka.add_argument("--config", type=Path, default=None,
                       help="take Kafka settings (security included) and topic names from this file")
    kafka.add_argument("--bootstrap", default=None, metavar="HOST:PORT",
                       help="the broker (default: the config's, else localhost:9092)")
    kafka.add_argument("--topic", default=None, help=f"read this topic (default: the config's topics.{role}, "
                                                     f"else streamdrift.{role})")


def _connection(args: argparse.Namespace, role: str):
    from stream.config import KafkaConfig, TopicsConfig, load_config

    if args.config:
        config = load_config(args.config)
        kafka, topics = config.kafka, config.topics
        if args.bootstrap:
            kafka = kafka.model_copy(update={"bootstrap_servers": args.bootstrap})
    else:
        kafka, topics = KafkaConfig(bootstrap_servers=args.bootstrap or "localhost:9092"), TopicsConfig()
    return kafka, args.topic or topics.of_role(role)


# -- alerts ---------------------------------------------------------------------------------------
def run_alerts(args: argparse.Namespace) -> int:
    from stream.events import DriftAlert

    kafka, topic = _connection(args, "alerts")
    wanted = _alert_filter(args)
    say = _Output()

    def show(record) -> None:
        alert = _decode(DriftAlert, record, topic)
        if alert is not None and wanted(alert):
            say(alert.model_dump_json() if args.json else alert.line())

    with _stopped_by_signals() as stop:
        stop_or_closed = _either(stop, say.closed)
        start = "the beginning" if args.from_beginning else "now on"
        _read(kafka, topic, show, from_beginning=args.from_beginning, to_end=args.exit_at_end, stop=stop_or_closed,
              started=lambda: _note(f"reading {topic} from {start}" +
                                    ("" if args.exit_at_end else " (Ctrl-C to stop)")))
    return 0


def _alert_filter(args: argparse.Namespace) -> Callable[[Any], bool]:
    models, kinds, severities = (set(v) if v else None for v in (args.model, args.kind, args.severity))

    def wanted(alert) -> bool:
        return ((models is None or alert.model_id in models) and (kinds is None or alert.kind in kinds)
                and (severities is None or alert.severity in severities)
                and (args.status is None or alert.status == args.status))
    return wanted


# -- status ---------------------------------------------------------------------------------------
def run_status(args: argparse.Namespace) -> int:
    from stream.events import SignalStatus

    kafka, topic = _connection(args, "status")
    current: dict[bytes, SignalStatus] = {}

    def keep(record) -> None:
        if record.value is None:   # a tombstone: the signal is gone
            current.pop(record.key, None)
            return
        status = _decode(SignalStatus, record, topic)
        if status is not None:
            current[record.key] = status

    with _stopped_by_signals() as stop:
        if not _read(kafka, topic, keep, from_beginning=True, to_end=True, stop=stop):
            return 130   # interrupted before the end: a partial state would mislead
    shown = [s for s in current.values() if (not args.model or s.model_id in args.model)
             and (not args.drifting or s.state == "drifting")]
    shown.sort(key=lambda s: (STATE_ORDER[s.state], s.model_id, s.signal, s.scope))
    say = _Output()
    if args.json:
        for s in shown:
            say(s.model_dump_json())
        return 0
    for line in status_table(shown):
        say(line)
    counts = {state: sum(s.state == state for s in shown) for state in STATE_ORDER}
    say(f"{len(shown)} signal(s): " + ", ".join(f"{n} {state}" for state, n in counts.items()))
    return 0


def status_table(statuses: list) -> list[str]:
    """Aligned rows: one signal a line, with the alert's statistic and threshold when it has one."""
    header = ("MODEL", "SIGNAL", "SCOPE", "KIND", "STATE", "SINCE (event time)", "DETECTOR", "STATISTIC",
              "THRESHOLD")
    rows = [header] + [(s.model_id, s.signal, s.scope, s.kind, s.state, f"{s.since:%Y-%m-%d %H:%M:%S}",
                        s.detector or "-", _number(s.statistic), _number(s.threshold)) for s in statuses]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


# -- reading a topic ------------------------------------------------------------------------------
def _read(kafka, topic: str, handle: Callable[[Any], None], *, from_beginning: bool, to_end: bool,
          stop: Callable[[], bool], started: Callable[[], None] = lambda: None) -> bool:
    """Every committed record of every partition of `topic`, from its beginning or from now on, until
    `stop()` or, with to_end, until the end offsets it had when reading began (then True)."""
    from kafka import TopicPartition

    from stream.errors import StreamdriftError
    from stream.kafka_clients import make_consumer

    # No group: nothing is committed, and any number of readers can tail the same topic.
    consumer = make_consumer(kafka, group_id=None, enable_auto_commit=False, isolation_level="read_committed",
                             allow_auto_create_topics=False)
    try:
        numbers = consumer.partitions_for_topic(topic)
        if not numbers:
            raise StreamdriftError(f"topic {topic!r} does not exist on {kafka.bootstrap_servers}: the service "
                                   "creates it when it starts; or name the right one with --config or --topic")
        partitions = [TopicPartition(topic, p) for p in sorted(numbers)]
        consumer.assign(partitions)
        (consumer.seek_to_beginning if from_beginning else consumer.seek_to_end)(*partitions)
        for tp in partitions:
            consumer.position(tp)   # resolved now: "from now on" means from this moment, not from the first poll
        end = consumer.end_offsets(partitions) if to_end else None
        started()
        while not stop():
            if end is not None and all(consumer.position(tp) >= end[tp] for tp in partitions):
                return True
            for records in consumer.poll(timeout_ms=200).values():
                for record in records:
                    handle(record)
        return False
    finally:
        consumer.close()


def _decode(model: type, record, topic: str):
    try:
        return model.model_validate_json(record.value)
    except ValueError as exc:   # pydantic's ValidationError is a ValueError
        _note(f"warning: skipped {topic}[{record.partition}]@{record.offset}: not a {model.__name__} "
              f"({str(exc).splitlines()[0]})")
        return None


def _note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class _Output:
    """Lines to stdout, flushed one by one (a pipe sees each alert at once); a reader that went away
    (`| head`) ends the command quietly."""

    def __init__(self) -> None:
        self._closed = False

    def __call__(self, line: str) -> None:
        if self._closed:
            return
        try:
            print(line, flush=True)
        except BrokenPipeError:
            self._closed = True
            # Python flushes stdout again at exit; point it at /dev/null so that raises nothing.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())

    def closed(self) -> bool:
        return self._closed


def _either(*checks: Callable[[], bool]) -> Callable[[], bool]:
    return lambda: any(check() for check in checks)


class _stopped_by_signals:
    """SIGINT (Ctrl-C) and SIGTERM ask the read loop to stop at its next poll, so the consumer closes
    cleanly and the command exits 0; the previous handlers come back afterwards."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self) -> Callable[[], bool]:
        self._event = threading.Event()
        self._previous = {}
        if threading.current_thread() is threading.main_thread():   # handlers can only be set there
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, lambda *_: self._event.set())
        return self._event.is_set

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
