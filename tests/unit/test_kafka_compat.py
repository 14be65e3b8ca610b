"""The kafka-python workarounds refuse to apply silently to a kafka-python that has moved on."""

from __future__ import annotations

import pytest

from stream.kafka_compat import KafkaPythonChanged, complete_orphaned_joins


class _Coordinator:
    def need_rejoin(self) -> bool:
        return False


class _Consumer:
    def __init__(self, coordinator) -> None:
        self._coordinator = coordinator


def test_a_consumer_without_the_internals_is_refused_loudly():
    with pytest.raises(KafkaPythonChanged, match="drop or adapt stream/kafka_compat.py"):
        complete_orphaned_joins(_Consumer(_Coordinator()))   # no _join_task


def test_a_pending_join_counts_as_a_rejoin_needed():
    coordinator = _Coordinator()
    coordinator._join_task = None
    complete_orphaned_joins(_Consumer(coordinator))
    assert coordinator.need_rejoin() is False
    coordinator._join_task = object()   # in flight, or finished and never consumed
    assert coordinator.need_rejoin() is True


class _Result:
    """A transactional request's result that nobody completes: what kafka-python leaves behind."""

    def __init__(self, error=None, done=False):
        self.error, self.done = error, done

    def wait(self, timeout_ms=None):
        if self.done and self.error:
            raise self.error
        return self.done


class _Manager:
    def __init__(self, result, fatal=None):
        self.result, self.fatal = result, fatal

    def send_offsets_to_transaction(self, offsets, group_metadata):
        return self.result

    def begin_commit(self):
        return self.result

    def begin_abort(self):
        return self.result

    def has_fatal_error(self):
        return self.fatal is not None

    @property
    def last_error(self):
        return self.fatal


class _Producer:
    def __init__(self, manager):
        self._transaction_manager = manager
        self._sender = type("Sender", (), {"wakeup": lambda self: None})()


def test_a_transactional_call_orphaned_by_a_fatal_error_raises_it_instead_of_hanging():
    from kafka.errors import ProducerFencedError

    from stream.kafka_compat import commit_transaction

    fenced = ProducerFencedError("fenced")
    with pytest.raises(ProducerFencedError):
        commit_transaction(_Producer(_Manager(_Result(), fatal=fenced)))


def test_a_transactional_call_returns_or_raises_its_own_outcome():
    from kafka.errors import KafkaError

    from stream.kafka_compat import abort_transaction, send_offsets_to_transaction

    send_offsets_to_transaction(_Producer(_Manager(_Result(done=True))), {}, None)
    with pytest.raises(KafkaError, match="refused"):
        abort_transaction(_Producer(_Manager(_Result(KafkaError("refused"), done=True))))


def test_a_producer_without_the_internals_is_refused_loudly():
    from stream.kafka_compat import commit_transaction

    with pytest.raises(KafkaPythonChanged, match="transactional producer internals moved"):
        commit_transaction(object())
