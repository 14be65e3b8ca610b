"""Fetching ahead (stream/fetch_ahead.py, the service's consumer only) on a real broker: a poll that drains one
partition and leaves others buffered sends the drained partition's next fetch before it returns; kafka-python's
own consumer (the negative control) sends nothing until a poll drains everything buffered.
"""

from __future__ import annotations

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from stream import fetch_ahead
from tests.integration.helpers import new_topic

pytestmark = pytest.mark.integration

PER_PARTITION = 500


def three_full_partitions(bootstrap: str) -> str:
    topic = new_topic(bootstrap, "ahead", partitions=3)
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=50)
    try:
        for p in range(3):
            for i in range(PER_PARTITION):
                producer.send(topic, f"{p}-{i}".encode(), partition=p)
        producer.flush(timeout=30)
    finally:
        producer.close()
    return topic


@pytest.mark.parametrize("ahead", [True, False])
def test_a_poll_that_drains_a_partition_fetches_it_again_before_returning(kafka_bootstrap, ahead):
    topic = three_full_partitions(kafka_bootstrap)
    # Polls of a partition and a half: the first drains one partition, starts the next and leaves the third
    # buffered. An empty partition's fetch waits at the broker for fetch_max_wait_ms, so a fetch sent by the
    # first poll is still in flight when the test looks.
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False,
                             max_poll_records=PER_PARTITION * 3 // 2, fetch_max_wait_ms=20_000, fetch_min_bytes=1)
    try:
        if ahead:
            assert fetch_ahead.install(consumer)
        parts = [TopicPartition(topic, p) for p in range(3)]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        fetcher = consumer._fetcher
        records = {}
        while not records:   # the first fetch of both partitions may take a few polls to come back
            records = consumer.poll(timeout_ms=1_000)
        drained = [tp for tp, batch in records.items() if len(batch) == PER_PARTITION]
        assert sum(map(len, records.values())) == PER_PARTITION * 3 // 2 and len(drained) == 1, \
            "the first poll should return one partition whole and half of another"
        in_flight = bool(fetcher._nodes_with_pending_fetch_requests)
        assert in_flight is ahead
        second = consumer.poll(timeout_ms=1_000)   # the rest, from the buffer, either way
        assert sum(map(len, second.values())) == PER_PARTITION * 3 // 2 and drained[0] not in second
    finally:
        consumer.close()
