"""Helpers for tests against the real broker: configs with private topics, reading topics back."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from stream.config import Config


def new_topic(bootstrap: str, prefix: str, partitions: int = 1) -> str:
    """A topic of this test's own, created now."""
    topic = f"{prefix}{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        admin.close()
    return topic


def make_config(bootstrap: str, suffix: str, models: list[dict], **sections) -> Config:
    topics = {role: f"t{suffix}.{role}" for role in
              ("features", "predictions", "labels", "alerts", "dead_letter", "state", "references", "status")}
    return Config.model_validate({
        "kafka": {"bootstrap_servers": bootstrap},
        "topics": {**topics, "partitions": 3},
        "consumer": {"group_id": f"g{suffix}", "poll_timeout_ms": 100},
        "metrics": {"host": "127.0.0.1", "port": 0},
        "models": models,
        **sections,
    })


def _assigned_from_start(consumer: KafkaConsumer, topic: str, deadline: float) -> list[TopicPartition]:
    partitions = None
    while partitions is None and time.monotonic() < deadline:
        found = consumer.partitions_for_topic(topic)
        if found:
            partitions = [TopicPartition(topic, p) for p in sorted(found)]
        else:
            time.sleep(0.2)
    assert partitions, f"topic {topic} does not exist"
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    return partitions


def read_topic(bootstrap: str, topic: str, *, until: Callable[[list], bool], timeout_s: float = 60.0) -> list:
    """All committed records of a topic from the beginning, polled until `until(records)` holds or the time is up."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_committed")
    try:
        deadline = time.monotonic() + timeout_s
        _assigned_from_start(consumer, topic, deadline)
        records: list = []
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
            if until(records):
                break
        return records
    finally:
        consumer.close()


def read_to_end(bootstrap: str, topic: str, *, committed: bool = True, timeout_s: float = 60.0) -> list:
    """Every record of a topic up to its end offsets as they are now, in partition then offset order.

    committed=True reads as read_committed consumers do (up to the last stable offset, aborted
    records skipped); committed=False also shows records of open and aborted transactions.
    """
    isolation = "read_committed" if committed else "read_uncommitted"
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level=isolation)
    try:
        deadline = time.monotonic() + timeout_s
        partitions = _assigned_from_start(consumer, topic, deadline)
        end = consumer.end_offsets(partitions)
        records: list = []
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            assert time.monotonic() < deadline, f"could not read {topic} to its end offsets {end} in {timeout_s} s"
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
        return sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        consumer.close()


def wait_for(predicate: Callable[[], bool], timeout_s: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
