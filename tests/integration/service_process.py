"""The monitor service as a separate OS process, for crash, rebalance and restart tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from kafka import KafkaConsumer, TopicPartition

from consumers.checkpoint import read_snapshots
from consumers.partition import Snapshot
from stream.broker import die_with_parent
from stream.config import Config
from stream.events import DriftAlert

ROOT = Path(__file__).resolve().parents[2]


def write_config(config: Config, path: Path) -> Path:
    path.write_text(yaml.safe_dump(config.model_dump(mode="json", exclude_none=True)))
    return path


class ServiceProcess:
    """`streamdrift serve` as a child process; every one started is killed at the end of its test at the latest."""

    started: list[ServiceProcess] = []

    def __init__(self, config_path: Path, log_path: Path, instance_id: str = "instance-0"):
        self.config_path = config_path
        self.log_path = log_path
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "STREAMDRIFT_CONSUMER__INSTANCE_ID": instance_id}
        self.proc: subprocess.Popen | None = None

    def start(self) -> ServiceProcess:
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streamdrift", "serve", "--config", str(self.config_path)],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=self.env, preexec_fn=die_with_parent)
        ServiceProcess.started.append(self)
        return self

    def log_since_start(self) -> str:
        with open(self.log_path, "rb") as log:
            log.seek(self._log_start)
            return log.read().decode(errors="replace")

    def lines_with(self, text: str) -> list[str]:
        return [line for line in self.log_since_start().splitlines() if text in line]

    def wait_for_log(self, text: str, timeout_s: float = 60, seen: int = 0) -> str:
        """Until this incarnation's log shows `text` more than `seen` times; returns the newest such line."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.alive(), self.log_tail()
            lines = self.lines_with(text)
            if len(lines) > seen:
                return lines[-1]
            time.sleep(0.02)
        raise AssertionError(f"the service did not log {text!r} in {timeout_s:.0f} s:\n{self.log_tail()}")

    def wait_assigned(self, timeout_s: float = 60) -> None:
        """Until this incarnation has joined the group and restored its partitions."""
        self.wait_for_log("assigned partitions", timeout_s)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def terminate(self, timeout_s: float = 60) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout_s)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def committed(bootstrap: str, group: str, topic: str | list[str], partitions: int | list[int]) -> int:
    """Sum of the group's committed offsets over the partitions (a count, or a list of numbers) of a topic, or
    of several topics."""
    numbers = range(partitions) if isinstance(partitions, int) else partitions
    topics = [topic] if isinstance(topic, str) else topic
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return sum(consumer.committed(TopicPartition(t, p)) or 0 for t in topics for p in numbers)
    finally:
        consumer.close(autocommit=False)


def wait_until_committed(bootstrap: str, group: str, topic: str | list[str], partitions: int, total: int,
                         procs: list[ServiceProcess], timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if committed(bootstrap, group, topic, partitions) >= total:
            return
        for p in procs:
            assert p.alive(), f"the service died:\n{p.log_tail()}"
        time.sleep(0.5)
    raise AssertionError(f"group {group} did not commit {total} offsets of {topic} in {timeout_s:.0f} s")


def final_snapshots(config: Config) -> dict[int, Snapshot]:
    return read_snapshots(config, set(range(config.topics.partitions)))


def detector_counts(snapshots: dict[int, Snapshot]) -> dict[tuple[str, str, str], int]:
    """(model, signal, detector) -> values the detectors saw, summed over the partitions' snapshots.

    Signals: "feature:NAME", and "prediction@SCOPE" / "errors@SCOPE" per version or segment scope.
    """
    import detectors

    counts: dict[tuple[str, str, str], int] = {}

    def add(model_id: str, signal: str, signal_state: dict) -> None:
        for kind, blob in signal_state["detectors"].items():
            key = (model_id, signal, kind)
            counts[key] = counts.get(key, 0) + detectors.restore(blob).n_seen

    for snap in snapshots.values():
        for model_id, state in snap.models.items():
            for name, signal_state in state["features"].items():
                add(model_id, f"feature:{name}", signal_state)
            for family in ("predictions", "errors"):
                for scope_name, (_, signal_state) in state.get(family, {}).items():
                    add(model_id, f"{family.rstrip('s')}@{scope_name}", signal_state)
    return counts


def pause_with_an_alert_in_flight(service: ServiceProcess, bootstrap: str, config: Config,
                                  attempts: int = 4) -> DriftAlert:
    """SIGSTOP the service right after it logs an alert, and make sure the alert is in flight: written to
    the alert topic but not covered by a committed checkpoint. If a checkpoint slipped in between the log
    line and the pause, let it run to its next alert and try again. Returns the alert in flight."""
    from tests.integration.helpers import read_to_end, wait_for

    seen = 0
    for _ in range(attempts):
        lines = service.lines_with("ALERT ")
        while len(lines) <= seen:
            assert service.alive(), service.log_tail()
            time.sleep(0.01)
            lines = service.lines_with("ALERT ")
        service.pause()
        line, seen = lines[-1], len(lines)

        def on_topic() -> list[DriftAlert]:
            return [a for a in (DriftAlert.model_validate_json(r.value) for r in
                                read_to_end(bootstrap, config.topics.alerts, committed=False)) if a.line() in line]

        written = on_topic()
        if not written:   # paused before its producer sent the record (linger): let it send, pause again
            service.resume()
            wait_for(lambda: written.extend(on_topic()) or written, 30, f"the alert to be on {config.topics.alerts}")
            service.pause()
        where = written[0].window
        if committed(bootstrap, config.consumer.group_id, where.topic, [where.partition]) <= where.last_offset:
            return written[0]
        service.resume()
    raise AssertionError(f"no alert caught in flight in {attempts} attempts:\n{service.log_tail()}")
