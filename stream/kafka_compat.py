"""Workarounds for kafka-python defects, each in one place, each checked by tests/unit/test_kafka_compat.py.

kafka-python 3.0.x (seen with 3.0.12) can orphan a group join. A rejoin that the consumer
coordinator itself asks for (the subscription changed, or the leader saw the topic metadata
change) does not set the base coordinator's ``rejoin_needed`` flag, and the join clears its own
trigger while it is in flight: ``group_protocols()`` records the joined subscription when the
JoinGroup is built, the leader's ``_perform_assignment`` records the metadata it assigned. If
``poll(timeout_ms)`` runs out during that JoinGroup/SyncGroup round trip, the join task is left
to finish on the IO thread, and the next ``poll`` sees ``need_rejoin() == False``, never awaits
the finished task, never runs ``_on_join_complete``: the consumer keeps an empty assignment and
heartbeats forever, so the broker never rebalances it away. It shows whenever a group joins
before the consumer has the topic's metadata (the first join assigns nothing, the second is the
one at risk) and the round trip outlasts a poll — SASL logins on fresh connections make that
likely, short polls certain.

The fix: a join task still in flight, or finished but never consumed, counts as a rejoin needed.
The next poll then awaits the task in flight, or (kafka-python does not reuse a finished one)
joins once more, and completes the join with its assignment.
"""

from __future__ import annotations

import logging

from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

log = logging.getLogger(__name__)


class KafkaPythonChanged(RuntimeError):
    """kafka-python no longer has the internals a workaround relies on: review the workaround."""


def complete_orphaned_joins(consumer: KafkaConsumer) -> KafkaConsumer:
    """Make ``consumer`` finish a group join that an earlier ``poll`` timed out on."""
    coordinator = getattr(consumer, "_coordinator", None)
    if coordinator is None or not hasattr(coordinator, "_join_task") or not hasattr(coordinator, "need_rejoin"):
        raise KafkaPythonChanged(
            "kafka-python's consumer coordinator has no _join_task/need_rejoin any more: check whether the "
            "orphaned-join defect is fixed in this version and drop or adapt stream/kafka_compat.py")
    need_rejoin = coordinator.need_rejoin

    def need_rejoin_or_join_pending() -> bool:
        return need_rejoin() or coordinator._join_task is not None

    coordinator.need_rejoin = need_rejoin_or_join_pending
    return consumer


# kafka-python 3.0.x (seen with 3.0.12) can also leave a transactional call waiting forever. Each of
# send_offsets_to_transaction, commit_transaction and abort_transaction waits, with no timeout, on the
# result of its own request; when another request of the same transaction fails fatally (for example
# AddPartitionsToTxn answered PRODUCER_FENCED, because the broker expired the transaction during an
# outage and bumped the producer's epoch), the producer enters its fatal state but the waiting result
# is never completed. The calls below wait on the same result in slices and give up with the
# producer's fatal error as soon as it has one.
_TXN_POLL_S = 0.2


def _await_transactional(producer: KafkaProducer, result) -> None:
    manager = producer._transaction_manager
    producer._sender.wakeup()
    while not result.wait(_TXN_POLL_S * 1000):
        if manager.has_fatal_error():
            raise manager.last_error
    result.wait(0)   # raises the request's own error, if it failed


def send_offsets_to_transaction(producer: KafkaProducer, offsets, group_metadata) -> None:
    _await_transactional(producer, _manager(producer).send_offsets_to_transaction(offsets, group_metadata))


def commit_transaction(producer: KafkaProducer) -> None:
    _await_transactional(producer, _manager(producer).begin_commit())


def abort_transaction(producer: KafkaProducer) -> None:
    _await_transactional(producer, _manager(producer).begin_abort())


def discard_producer(producer: KafkaProducer, timeout_s: float = 10.0) -> None:
    """Close a producer and drop the records it has not sent (a fenced transactional producer: the broker
    refuses them anyway).

    kafka-python 3.0's close(timeout=0) flushes first, and raises KafkaTimeoutError while records are
    pending, before it closes anything: the caller gets an exception and the sender thread lives on. Forcing
    the sender's close first fails the pending batches, so the close that follows has nothing to wait for.
    """
    sender = getattr(producer, "_sender", None)
    if sender is not None:
        sender.force_close()
        sender.join(timeout_s)
    try:
        producer.close(timeout=0)
    except KafkaError as exc:   # nothing more to do for a producer being dropped
        log.warning("closing a discarded producer: %s", exc)


def _manager(producer: KafkaProducer):
    manager = getattr(producer, "_transaction_manager", None)
    if manager is None or not all(hasattr(manager, name) for name in
                                  ("send_offsets_to_transaction", "begin_commit", "begin_abort",
                                   "has_fatal_error", "last_error")) or not hasattr(producer, "_sender"):
        raise KafkaPythonChanged(
            "kafka-python's transactional producer internals moved: check whether transactional calls still "
            "hang after a fatal error in this version and drop or adapt stream/kafka_compat.py")
    return manager
