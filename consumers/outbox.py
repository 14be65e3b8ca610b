"""Everything the service produces goes through the outbox, so outputs and consumed offsets agree.

exactly_once: alerts, dead letters and state snapshots are written in one Kafka transaction that
also commits the consumed offsets (KIP-447: the consumer's group metadata fences a zombie
instance). Readers of the alert topic with isolation_level=read_committed see every alert once.

at_least_once: outputs are flushed, then offsets committed; after a crash the events since the
last checkpoint are processed again and their alerts repeat with the same alert_id.
"""

from __future__ import annotations

import logging

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

log = logging.getLogger(__name__)


class Outbox:
    def __init__(self, producer: KafkaProducer, consumer: KafkaConsumer, transactional: bool):
        self.producer = producer
        self.consumer = consumer
        self.transactional = transactional
        self._open = False
        if transactional:
            # Aborts whatever a previous incarnation with the same transactional_id left open.
            producer.init_transactions()

    def send(self, topic: str, *, key: bytes | None, value: bytes | None,
             headers: list[tuple[str, bytes]] | None = None, partition: int | None = None) -> None:
        if self.transactional and not self._open:
            self.producer.begin_transaction()
            self._open = True
        self.producer.send(topic, key=key, value=value, headers=headers, partition=partition)

    def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        """Make everything sent so far, and these consumed offsets, durable together."""
        if not self.transactional:
            self.producer.flush()
            if offsets:
                self.consumer.commit(offsets)
            return
        if not self._open:
            if not offsets:
                return
            self.producer.begin_transaction()
            self._open = True
        if offsets:
            self.producer.send_offsets_to_transaction(offsets, self.consumer.group_metadata())
        self.producer.commit_transaction()
        self._open = False

    def abort(self) -> None:
        """Drop what was sent since the last commit (exactly_once); the caller rewinds to the last snapshot."""
        if self.transactional and self._open:
            try:
                self.producer.abort_transaction()
            finally:
                self._open = False
