"""A partition's snapshot is one record of the state topic: one of several megabytes (a model whose labels
are late holds many pending predictions) must commit and restore, not fail every checkpoint."""

from __future__ import annotations

import os

import pytest
from prometheus_client import CollectorRegistry

from consumers.checkpoint import Checkpointer, read_snapshots
from consumers.partition import Snapshot
from stream.kafka_clients import STATE_MAX_BYTES, ensure_topics
from stream.metrics import ServiceMetrics
from tests.integration.helpers import make_config

pytestmark = pytest.mark.integration


def checkpointer_for(bootstrap: str, unique: str) -> tuple[Checkpointer, object]:
    config = make_config(bootstrap, unique, [{"model_id": "m", "features": [{"name": "x"}]}])
    ensure_topics(config.kafka, config.topics)
    return Checkpointer(config, None, ServiceMetrics(CollectorRegistry())), config


def test_a_snapshot_of_several_megabytes_commits_and_restores(kafka_bootstrap, unique):
    checkpointer, config = checkpointer_for(kafka_bootstrap, unique)
    blob = os.urandom(6_000_000)   # incompressible: the record is as large as the state
    snapshot = Snapshot(group=config.consumer.group_id, partition=1, offsets={}, models={"m": {"state": blob}})
    try:
        assert len(snapshot.encode()) > 5 * 1_048_576   # five times Kafka's default record limit
        assert checkpointer.commit([snapshot])
    finally:
        checkpointer.close()
    restored = read_snapshots(config, {1})
    assert restored[1].models["m"]["state"] == blob


def test_a_snapshot_over_the_limit_fails_its_checkpoint_and_says_how_to_fix_it(kafka_bootstrap, unique, caplog):
    checkpointer, config = checkpointer_for(kafka_bootstrap, unique)
    snapshot = Snapshot(group=config.consumer.group_id, partition=0, offsets={},
                        models={"m": {"state": os.urandom(STATE_MAX_BYTES + 1)}})
    try:
        assert not checkpointer.commit([snapshot])
    finally:
        checkpointer.close()
    assert checkpointer.metrics.checkpoint_failures._value.get() == 1
    assert "labels.max_pending" in caplog.text
    assert read_snapshots(config, {0}) == {}


def test_restore_finds_each_partitions_latest_snapshot_however_far_back_it_is(kafka_bootstrap, unique):
    """Read backwards in growing windows: a partition checkpointed long ago, among many newer records of other
    partitions and another group sharing the topic, is still found, and each partition gets its latest."""
    checkpointer, config = checkpointer_for(kafka_bootstrap, unique)
    other_group = config.consumer.model_copy(update={"group_id": config.consumer.group_id + "-other"})
    other = Checkpointer(config.model_copy(update={"consumer": other_group}), None, ServiceMetrics(CollectorRegistry()))
    parts = config.topics.partitions
    try:
        def snap(partition: int, version: int, group: str = config.consumer.group_id) -> Snapshot:
            return Snapshot(group=group, partition=partition, offsets={}, models={"m": {"version": version}})

        assert checkpointer.commit([snap(1 + parts, 0)])        # same state partition as 1, written once, first
        for version in range(300):                               # then many checkpoints of partition 1
            assert checkpointer.commit([snap(1, version)])
            assert other.commit([snap(1, 1000 + version, other.config.consumer.group_id)])
    finally:
        checkpointer.close()
        other.close()
    restored = read_snapshots(config, {1, 1 + parts, 2})
    assert {p: s.models["m"]["version"] for p, s in restored.items()} == {1: 299, 1 + parts: 0}
