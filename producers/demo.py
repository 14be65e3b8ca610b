"""`streamdrift demo`: a local broker, the service, a drifting workload, and the alerts as they come."""

from __future__ import annotations

import os
from collections import deque
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from stream.broker import die_with_parent, free_port, kafka_broker, port_is_free
from stream.config import KafkaConfig, TopicsConfig, load_config
from stream.events import DriftAlert
from stream.kafka_clients import ensure_topics, make_consumer

from .sdk import EventProducer
from .workload import CANARY, CHAMPION, DRIFTING, STABLE, CreditRiskWorkload


def _say(text: str) -> None:
    print(text, flush=True)


class _AlertTail:
    """Prints alerts as they commit, and says how far it has read (to wait for the last ones)."""

    def __init__(self, config) -> None:
        self.config = config
        self.seen: list[DriftAlert] = []
        self.position = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from kafka import TopicPartition

        # read_committed: with exactly_once delivery, alerts show up once their transaction commits.
        consumer = make_consumer(self.config.kafka, enable_auto_commit=False, isolation_level="read_committed")
        tp = TopicPartition(self.config.topics.alerts, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        try:
            while not self.stop.is_set():
                polled = consumer.poll(timeout_ms=300)
                for records in polled.values():
                    for record in records:
                        try:
                            alert = DriftAlert.model_validate_json(record.value)
                        except ValueError as exc:
                            _say(f"  (unreadable alert at offset {record.offset}: {exc})")
                            continue
                        self.seen.append(alert)
                        _say(f"  ALERT  {alert.line()}")
                self.position = consumer.position(tp)
        finally:
            consumer.close()


def _wait_until_processed(config, tail: _AlertTail, service: subprocess.Popen, timeout_s: float = 60) -> bool:
    """Until the service has committed every event published (its alerts with them) and the tail has read
    those alerts; False if that takes longer than timeout_s (the machine is busy: the summary says so)."""
    from kafka import TopicPartition

    reader = make_consumer(config.kafka, group_id=config.consumer.group_id, enable_auto_commit=False,
                           isolation_level="read_committed")
    try:
        data = [TopicPartition(t, p) for t in config.topics.data_roles() for p in range(config.topics.partitions)]
        ends = reader.end_offsets(data)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and service.poll() is None:
            if all((reader.committed(tp) or 0) >= end for tp, end in ends.items()):
                alerts_end = reader.end_offsets([TopicPartition(config.topics.alerts, 0)])
                if tail.position >= next(iter(alerts_end.values())):
                    return True
            time.sleep(0.2)
        return False
    finally:
        reader.close(autocommit=False)


def _wait_for_metrics(url: str, service: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if service.poll() is not None:
            raise RuntimeError(f"the monitor service exited with code {service.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if b"streamdrift_up 1.0" in response.read():
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the monitor service did not come up at {url}")


def _scrape(url: str, prefixes: tuple[str, ...]) -> list[str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return [line for line in text.splitlines() if line.startswith(prefixes)]


def run_demo(*, duration: float, rate: int, config_path: Path, metrics_port: int, broker_port: int | None,
             seed: int) -> int:
    if metrics_port == 0 or not port_is_free(metrics_port):
        metrics_port = free_port()
    log_path = Path(tempfile.gettempdir()) / "streamdrift-demo-service.log"
    with kafka_broker(broker_port, progress=_say) as bootstrap:
        env = {**os.environ, "STREAMDRIFT_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
               "STREAMDRIFT_METRICS__PORT": str(metrics_port)}
        config = load_config(config_path, environ=env)
        ensure_topics(config.kafka, config.topics)
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        _say(f"Kafka bootstrap:   {bootstrap}")
        _say(f"Metrics:           {url}")
        _say(f"Alert topic:       {config.topics.alerts}   (e.g. kcat -b {bootstrap} -X isolation.level=read_committed -C -t {config.topics.alerts})")
        _say(f"Service log:       {log_path}")
        # Its own session: a terminal's Ctrl-C reaches only the demo, which then stops everything in order.
        with open(log_path, "wb") as log:
            service = subprocess.Popen([sys.executable, "-m", "streamdrift", "serve", "--config", str(config_path)],
                                       env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
                                       start_new_session=True)
        interrupted = _interruptible()
        tail = _AlertTail(config)
        alerts = tail.seen
        try:
            _wait_for_metrics(url, service)
            tail.thread.start()
            _say(f"Monitor service:   running (pid {service.pid})")
            _say(f"Workload:          {rate} events/s for {duration:.0f} s; "
                 f"{', '.join(DRIFTING)} drift at {duration / 2:.0f} s; {', '.join(STABLE)} stay stable")
            _say(f"                   version {CANARY} is a canary on ~5% of traffic erring 3x as often as "
                 f"{CHAMPION}; after the drift the small 'partner' channel gets many more declines")
            publish_workload(config.kafka.model_copy(update={"bootstrap_servers": bootstrap}), config.topics,
                             rate=rate, duration=duration, seed=seed, stop=interrupted)
            if interrupted.is_set():
                _say("\nInterrupted: stopping.")
            elif not _wait_until_processed(config, tail, service):
                _say("  (the service has not caught up after 60 s: the summary covers what it has processed)")
        finally:
            tail.stop.set()
            summary = _summary(url, alerts) if service.poll() is None else []
            service.send_signal(signal.SIGTERM)
            try:
                service.wait(timeout=30)
            except subprocess.TimeoutExpired:
                service.kill()
            tail.thread.join(timeout=5)
            if service.returncode not in (0, -signal.SIGTERM):
                _say(f"The service exited with code {service.returncode}; its log:\n{log_path.read_text()[-3000:]}")
        for line in summary:
            _say(line)
    return 0


def _interruptible() -> threading.Event:
    """SIGINT/SIGTERM set an event instead of raising inside a Kafka client call, so shutdown is orderly."""
    event = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: event.set())
    return event


def publish_workload(kafka: KafkaConfig, topics: TopicsConfig, *, rate: int, duration: float, seed: int,
                     stop: threading.Event | None = None) -> None:
    """Publish the demo workload at `rate` events/s; its drift starts halfway through `duration`."""
    stop = stop or threading.Event()
    workload = CreditRiskWorkload(seed)
    tick = 0.1
    per_tick = max(1, int(rate * tick))
    # Ground truth arrives later than the prediction, as it does in production.
    label_lag_ticks = 20
    lagged_labels: deque[list] = deque()
    start = time.monotonic()
    next_report = 10.0
    producer = EventProducer(kafka, topics)
    try:
        while (elapsed := time.monotonic() - start) < duration and not stop.is_set():
            batch = workload.batch(per_tick, drifted=elapsed >= duration / 2)
            lagged_labels.append(batch.labels)
            outgoing = [batch.features, batch.predictions]
            if len(lagged_labels) > label_lag_ticks:
                outgoing.append(lagged_labels.popleft())
            for events in outgoing:
                for event in events:
                    producer.send(event)
            if elapsed >= next_report:
                phase = "drifted" if elapsed >= duration / 2 else "stable"
                _say(f"  t={elapsed:4.0f}s  {workload.sent:,} events sent ({phase})")
                next_report += 10.0
            stop.wait(max(0.0, start + (workload.sent / per_tick) * tick - time.monotonic()))
    finally:
        producer.close(timeout=10)


def _summary(url: str, alerts: list[DriftAlert]) -> list[str]:
    lines = ["", "Summary"]
    signals = sorted({(a.kind, a.signal + ("" if a.scope in ("all", f"version={CHAMPION}") else f"[{a.scope}]"))
                      for a in alerts if a.status == "drifting"})
    lines.append(f"  alerts: {len(alerts)}  " + ", ".join(f"{k}:{s}" for k, s in signals))
    quiet = [s for s in STABLE if not any(a.signal == s and a.kind == "data_drift" for a in alerts)]
    lines.append(f"  stable features without a drift alert: {', '.join(quiet) or 'none'}")
    canary = [a for a in alerts if a.kind == "performance" and a.model_version == CANARY]
    lines.append(f"  canary {CANARY} worse than champion {CHAMPION}: "
                 + (canary[0].message if canary else "not (yet) shown"))
    partner = [a for a in alerts if a.segment == {"channel": "partner"} and a.status == "drifting"]
    lines.append("  drift hidden in the partner channel: "
                 + (", ".join(sorted({f"{a.kind}:{a.signal}" for a in partner})) or "not (yet) shown"))
    try:
        lines.append(f"  from {url}:")
        lines += ["    " + line for line in _scrape(url, ("streamdrift_events_total", "streamdrift_alerts_total",
                                                          "streamdrift_dead_letters_total",
                                                          "streamdrift_drift_active{"))
                  if not line.startswith("streamdrift_drift_active") or line.endswith(" 1.0")]
    except OSError as exc:
        lines.append(f"  (metrics not reachable: {exc})")
    return lines
