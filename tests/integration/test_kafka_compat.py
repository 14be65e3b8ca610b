"""kafka-python's orphaned group join and its close() that raises instead of dropping pending records
(stream/kafka_compat.py), shown on a real broker and worked around.

Short polls make the defect certain rather than occasional: a join that spans two polls is the
one that gets orphaned. The negative control runs the plain kafka-python consumer the same way;
when it stops getting stuck, kafka-python has fixed the defect and the workaround can go.
"""

from __future__ import annotations

import time

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaTimeoutError

from stream import kafka_compat
from stream.config import KafkaConfig
from stream.kafka_clients import make_consumer
from tests.integration.helpers import new_topic, read_to_end

pytestmark = pytest.mark.integration

POLL_MS = 2
TRIALS = 6


def topic_with_one_record(bootstrap: str) -> str:
    topic = new_topic(bootstrap, "join")
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    try:
        producer.send(topic, b"x").get(timeout=30)
    finally:
        producer.close()
    return topic


def receives(consumer: KafkaConsumer, topic: str, within_s: float) -> bool:
    """Subscribe, poll in POLL_MS slices, and say whether the record arrived in time."""
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if any(consumer.poll(timeout_ms=POLL_MS).values()):
                return True
        return False
    finally:
        consumer.close()


def test_our_consumers_complete_a_join_that_spans_polls(kafka_bootstrap):
    kafka = KafkaConfig(bootstrap_servers=kafka_bootstrap)
    for _ in range(TRIALS):
        topic = topic_with_one_record(kafka_bootstrap)
        consumer = make_consumer(kafka, group_id=f"g{topic}", auto_offset_reset="earliest", enable_auto_commit=False)
        assert receives(consumer, topic, within_s=30), f"make_consumer's consumer got no assignment on {topic}"


def test_plain_kafka_python_still_orphans_such_joins(kafka_bootstrap):
    """Negative control: without the workaround the same loop gets stuck with an empty assignment."""
    stuck = 0
    for _ in range(TRIALS):
        topic = topic_with_one_record(kafka_bootstrap)
        consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=f"g{topic}",
                                 auto_offset_reset="earliest", enable_auto_commit=False)
        stuck += not receives(consumer, topic, within_s=3)
    assert stuck > 0, ("the plain kafka-python consumer no longer gets stuck: the defect seems fixed in this "
                       "kafka-python; drop stream/kafka_compat.complete_orphaned_joins")


# -- dropping a producer with records it has not sent -----------------------------------------------------
def producer_holding_records(bootstrap: str) -> tuple[KafkaProducer, str]:
    """A producer whose records wait in its accumulator (a minute's linger), as a fenced producer's do."""
    topic = topic_with_one_record(bootstrap)
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=60_000, batch_size=1_000_000)
    producer.partitions_for(topic)   # metadata first, so send() queues at once
    for i in range(10):
        producer.send(topic, f"held-{i}".encode())
    return producer, topic


def test_plain_close_without_a_timeout_raises_and_leaves_its_sender_running(kafka_bootstrap):
    """The negative control: when it stops raising, kafka-python has fixed close() and discard_producer's
    forced close can go."""
    producer, _ = producer_holding_records(kafka_bootstrap)
    try:
        with pytest.raises(KafkaTimeoutError):
            producer.close(timeout=0)
        assert producer._sender.is_alive()
    finally:
        kafka_compat.discard_producer(producer)


def test_a_discarded_producer_closes_at_once_and_sends_nothing(kafka_bootstrap):
    producer, topic = producer_holding_records(kafka_bootstrap)
    kafka_compat.discard_producer(producer)
    assert not producer._sender.is_alive()
    assert [r.value for r in read_to_end(kafka_bootstrap, topic)] == [b"x"]   # only the record sent before
