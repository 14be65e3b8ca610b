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

from consumers.checkpoint import Checkpoints, Snapshot
from stream.config import Config
from stream.metrics import ServiceMetrics

ROOT = Path(__file__).resolve().parents[2]


def write_config(config: Config, path: Path) -> Path:
    path.write_text(yaml.safe_dump(config.model_dump(mode="json", exclude_none=True)))
    return path


class ServiceProcess:
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
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        return self

    def wait_assigned(self, timeout_s: float = 60) -> None:
        """Until this incarnation has joined the group and restored its partitions."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.alive(), self.log_tail()
            with open(self.log_path, "rb") as log:
                log.seek(self._log_start)
                if b"assigned partitions" in log.read():
                    return
            time.sleep(0.05)
        raise AssertionError(f"the service did not join its group in {timeout_s:.0f} s:\n{self.log_tail()}")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def terminate(self, timeout_s: float = 60) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout_s)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> int:
    """Sum of the group's committed offsets over a topic's partitions."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        total = 0
        for p in range(partitions):
            offset = consumer.committed(TopicPartition(topic, p))
            total += offset or 0
        return total
    finally:
        consumer.close(autocommit=False)


def wait_until_committed(bootstrap: str, group: str, topic: str, partitions: int, total: int,
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
    from prometheus_client import CollectorRegistry

    reader = Checkpoints(config.kafka, config.topics, config.consumer.group_id, config.checkpoint,
                         ServiceMetrics(CollectorRegistry()))
    return reader.read(set(range(config.topics.partitions)))


def detector_counts(snapshots: dict[int, Snapshot]) -> dict[tuple[str, str, str], int]:
    """(model, signal, detector) -> values the detectors saw, summed over the partitions' snapshots."""
    import detectors

    counts: dict[tuple[str, str, str], int] = {}
    for snap in snapshots.values():
        for model_id, state in snap.models.items():
            for signal_name, signal_state in state["signals"].items():
                for kind, blob in signal_state["detectors"].items():
                    key = (model_id, signal_name, kind)
                    counts[key] = counts.get(key, 0) + detectors.restore(blob).n_seen
    return counts
