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
