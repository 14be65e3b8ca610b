"""The delivery protocol, in one owner: what the service sends, snapshots, offsets, commit, abort, rewind.

Commit order (`Checkpointer.commit`, read it top to bottom), as Kafka Streams and Quix Streams do it:
  1. outputs: the alerts and dead letters of every batch since the last checkpoint were sent into
     the open transaction as they came (exactly_once), or are flushed now (at_least_once);
  2. snapshots: the state of every partition held, tagged with the next offset of each data topic,
     to the compacted state topic;
  3. offsets: those same offsets, committed for the group (inside the transaction under exactly_once,
     with the consumer's group metadata, so a fenced zombie cannot commit: KIP-447);
  4. commit: outputs, snapshots and offsets become visible to read_committed readers together.
A failure at any step aborts the transaction, and `rewind` puts state and positions back to the
last committed snapshot: nothing is lost (the events are read again) and nothing counts twice
(the state that counted them is dropped with the transaction). Under at_least_once a failed
checkpoint is retried at the next one; a crash replays the events since the last checkpoint and
their alerts repeat with the same alert_id.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError, KafkaTimeoutError, MessageSizeTooLargeError
from kafka.structs import OffsetAndMetadata

from stream import kafka_compat
from stream.config import Config
from stream.kafka_clients import STATE_MAX_BYTES, make_consumer, make_producer
from stream.metrics import ServiceMetrics

from .partition import Snapshot
from .router import Router

log = logging.getLogger(__name__)


# Records read from the end of a state topic partition before reading further back (doubling each time).
STATE_READ_WINDOW = 64


class Checkpointer:
    """Owns the producer (rebuilt when a transaction error leaves it unusable) and the commit protocol."""

    def __init__(self, config: Config, consumer: KafkaConsumer | None, metrics: ServiceMetrics,
                 stopping: Callable[[], bool] = lambda: False):
        self.config = config
        self.consumer = consumer
        self.metrics = metrics
        self.transactional = config.consumer.delivery == "exactly_once"
        self._open = False
        self._events_since = 0
        self._last_at = time.monotonic()
        self._alert_at: float | None = None        # when the first alert since the last commit was sent
        self._committed: dict[int, Snapshot] = {}   # partition -> last snapshot known to be durable
        self.stopping: Callable[[], bool] = stopping
        self.producer = self._start_producer()

    def _new_producer(self) -> KafkaProducer:
        cfg = self.config.consumer
        txn = ({"transactional_id": f"streamdrift-{cfg.group_id}-{cfg.instance_id}",
                "transaction_timeout_ms": cfg.transaction_timeout_ms} if self.transactional else {})
        # A partition's snapshot is one record: allow what the state topic allows.
        return make_producer(self.config.kafka, max_request_size=STATE_MAX_BYTES, **txn)

    def _start_producer(self) -> KafkaProducer:
        producer = self._new_producer()
        while self.transactional:
            try:
                # Aborts whatever a previous incarnation with the same transactional_id left open.
                producer.init_transactions()
                break
            except KafkaTimeoutError:   # the broker is away; a retry keeps waiting for the same request
                if self.stopping():
                    raise
                log.warning("initialising the transactional producer: the broker did not answer within "
                            "max_block_ms; still trying")
        return producer

    def close(self) -> None:
        self.producer.flush()
        self.producer.close()

    # -- outputs ----------------------------------------------------------------------------------
    def send(self, topic: str, *, key: bytes | None, value: bytes | None,
             headers: list[tuple[str, bytes]] | None = None, partition: int | None = None) -> None:
        if self.transactional and not self._open:
            self.producer.begin_transaction()
            self._open = True
        if topic == self.config.topics.alerts and self._alert_at is None:
            self._alert_at = time.monotonic()
        self.producer.send(topic, key=key, value=value, headers=headers, partition=partition)

    # -- when ----------------------------------------------------------------------------------------
    def count(self, events: int) -> None:
        self._events_since += events

    def due(self, *, idle: bool = False) -> bool:
        """Whether to checkpoint now; `idle`: the last poll found nothing new."""
        policy = self.config.checkpoint
        now = time.monotonic()
        return (self._events_since >= policy.every_events
                or (self._events_since > 0 and (now - self._last_at >= policy.every_seconds
                                                or (idle and policy.when_idle)))
                or (self._alert_at is not None and now - self._alert_at >= policy.alert_seconds))

    # -- the protocol -------------------------------------------------------------------------------
    def commit(self, snapshots: list[Snapshot], *, in_rebalance: bool = False) -> bool:
        """Make the outputs sent so far, these snapshots and their offsets durable together.

        Returns False when that failed; under exactly_once the transaction is then aborted and the
        caller must rewind. `in_rebalance`: called from a rebalance listener, on kafka-python's IO
        thread, which must not block on the consumer (the producer has a thread of its own).
        """
        started = time.perf_counter()
        began = time.monotonic()   # the interval runs start to start: a slow commit does not stretch it
        topics = self.config.topics
        try:
            # 1. outputs: already in the open transaction (exactly_once), or made durable now.
            if not self.transactional:
                self.producer.flush()
            # 2. snapshots, to the compacted state topic.
            for snap in snapshots:
                self.send(topics.state, key=self._key(snap.partition), value=snap.encode(),
                          partition=snap.partition % topics.partitions)
            offsets = {TopicPartition(topic, snap.partition): OffsetAndMetadata(offset, "", -1)
                       for snap in snapshots for topic, offset in snap.offsets.items()}
            if self.transactional:
                # 3. offsets, in the transaction, with the group generation that fences a zombie.
                if offsets:
                    self.send_offsets(offsets)
                # 4. commit: outputs, snapshots and offsets visible together.
                if self._open:
                    kafka_compat.commit_transaction(self.producer)
                    self._open = False
            else:
                # 3. offsets, once the snapshots that carry them are durable.
                self.producer.flush()
                if offsets:
                    self._commit_offsets(offsets, in_rebalance)
        except KafkaError as exc:
            self.metrics.checkpoint_failures.inc()
            log.warning("checkpoint failed (%s)%s", exc, ": aborting the transaction" if self.transactional else
                        "; will retry at the next one")
            if isinstance(exc, MessageSizeTooLargeError):
                log.error("a partition's snapshot is over the state topic's record limit (%d MB here): lower "
                          "labels.max_pending of models whose labels are late or absent, or spread the models "
                          "over more partitions (topics.partitions)", STATE_MAX_BYTES // 2**20)
            self.abort()
            return False
        self._committed.update({snap.partition: snap for snap in snapshots})
        self.metrics.checkpoints.inc(len(snapshots))
        self.metrics.checkpoint_seconds.observe(time.perf_counter() - started)
        self._events_since = 0
        self._last_at = began
        self._alert_at = None
        return True

    def _commit_offsets(self, offsets: dict[TopicPartition, OffsetAndMetadata], in_rebalance: bool) -> None:
        if in_rebalance:
            # Queued on the coordinator connection ahead of the rejoin; a restore seeks to the
            # snapshot's offsets anyway, so this commit only has to be ordered, not awaited.
            self.consumer.commit_async(offsets)
        else:
            self.consumer.commit(offsets)

    def send_offsets(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        if not self._open:
            self.producer.begin_transaction()
            self._open = True
        kafka_compat.send_offsets_to_transaction(self.producer, offsets, self.consumer.group_metadata())

    def abort(self) -> None:
        """Drop what was sent since the last commit (exactly_once); the caller rewinds.

        A producer that cannot abort is in a fatal state (fenced: e.g. the broker expired the
        transaction while it was away, and bumped the producer's epoch). It is replaced: the new one
        takes the same transactional_id, which also aborts whatever the old one left open.
        """
        self._alert_at = None   # what was sent is dropped: the rewound batches send it again
        if not (self.transactional and self._open):
            return
        self._open = False
        try:
            kafka_compat.abort_transaction(self.producer)
        except KafkaError as exc:
            log.warning("the transaction could not be aborted (%s): starting a new transactional producer "
                        "(if another instance uses consumer.instance_id %r, give each its own)", exc,
                        self.config.consumer.instance_id)
            kafka_compat.discard_producer(self.producer)
            self.producer = self._start_producer()

    def restore(self, router: Router, assigned: list[TopicPartition], *, rewind: bool = False) -> None:
        """Give the router each assigned partition's last snapshot and seek the consumer to its offsets.

        On assignment the snapshots are read from the state topic; on a rewind they are the last ones
        committed by this process (the same records), and topics processed since a partition was
        taken on without a snapshot go back to where processing began.
        """
        numbers = {tp.partition for tp in assigned}
        if rewind:
            snapshots = {p: s for p, s in self._committed.items() if p in numbers}
        else:
            snapshots = self.read(numbers)
            self._committed.update(snapshots)
        for p in sorted(numbers):
            router.adopt(p, snapshots.get(p))
        for tp in assigned:
            state = router.partitions[tp.partition]
            offset = state.positions.get(tp.topic, state.starts.get(tp.topic) if rewind else None)
            if offset is not None:
                self.consumer.seek(tp, offset)
        self._events_since = 0
        log.info("%s partitions %s (restored %d snapshot(s))", "rewound" if rewind else "assigned",
                 sorted(numbers), len(snapshots))

    def forget(self, numbers: set[int]) -> None:
        for p in numbers:
            self._committed.pop(p, None)

    # -- the state topic ---------------------------------------------------------------------------
    def _key(self, partition: int) -> bytes:
        return f"{self.config.consumer.group_id}/{partition}".encode()

    def read(self, partitions: set[int]) -> dict[int, Snapshot]:
        return read_snapshots(self.config, partitions)


def read_snapshots(config: Config, partitions: set[int], timeout_s: float = 60.0) -> dict[int, Snapshot]:
    """The latest snapshot of each partition number on the state topic.

    Read backwards from the end in growing windows, and only the latest record of each key decoded: until
    compaction catches up the topic holds every checkpoint ever written, and reading (and unpickling) all of
    them from the beginning made each restart slower than the last.
    """
    if not partitions:
        return {}
    topics, group = config.topics, config.consumer.group_id
    latest: dict[int, bytes | None] = {}   # partition number -> its latest record's value (None: tombstone)
    # read_committed: a snapshot from an aborted transaction never existed.
    reader = make_consumer(config.kafka, enable_auto_commit=False, isolation_level="read_committed")
    try:
        tps = sorted({TopicPartition(topics.state, p % topics.partitions) for p in partitions})
        first, end = reader.beginning_offsets(tps), reader.end_offsets(tps)
        deadline = time.monotonic() + timeout_s
        for tp in tps:
            reader.assign([tp])
            wanted = {f"{group}/{p}".encode(): p for p in partitions if p % topics.partitions == tp.partition}
            stop, window = end[tp], STATE_READ_WINDOW
            while wanted and stop > first[tp]:
                start = max(first[tp], stop - window)
                found = _latest_in(reader, tp, start, stop, set(wanted), deadline)
                for key, value in found.items():
                    latest[wanted.pop(key)] = value
                stop, window = start, window * 2
    finally:
        reader.close()
    snapshots = {p: Snapshot.decode(value) for p, value in latest.items() if value is not None}
    return {p: snap for p, snap in snapshots.items() if snap is not None}


def _latest_in(reader, tp: TopicPartition, start: int, stop: int, keys: set[bytes],
               deadline: float) -> dict[bytes, bytes | None]:
    """The value of the last record of each of `keys` among the offsets [start, stop) of tp."""
    found: dict[bytes, bytes | None] = {}
    reader.seek(tp, start)
    while reader.position(tp) < stop:
        if time.monotonic() > deadline:
            raise RuntimeError(f"could not read the state topic {tp.topic} partition {tp.partition} up to "
                               f"offset {stop}")
        for record in reader.poll(timeout_ms=500).get(tp, []):
            if record.offset < stop and record.key in keys:
                found[record.key] = record.value
    return found
