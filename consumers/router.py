"""The pure heart of the service: a polled batch of records in; alerts, dead letters and positions out.

No Kafka client inside: the service feeds it from its consumer, the offline tools from files, and
both get the same alerts from the same records. It owns the state of the partitions it was given.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from stream.codec import BatchDecoder
from stream.config import Config
from stream.events import EVENT_TYPES, DriftAlert
from stream.metrics import ServiceMetrics

from .alerts import Batch
from .dead_letter import DeadLetter
from .partition import PartitionState, Snapshot


class Record(NamedTuple):
    """A consumed message; kafka-python's ConsumerRecord has the same fields, so either may be routed."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = ()


@dataclass
class Routed:
    alerts: list[DriftAlert] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    positions: dict[tuple[str, int], int] = field(default_factory=dict)   # (topic, partition) -> next offset
    records: int = 0


class Router:
    def __init__(self, config: Config, metrics: ServiceMetrics):
        self.config = config
        self.metrics = metrics
        self.roles = config.topics.data_roles()   # topic -> role
        max_bytes = config.consumer.max_message_bytes
        self._decoders = {role: BatchDecoder(EVENT_TYPES[role], max_bytes) for role in self.roles.values()}
        self._models = {m.model_id: m for m in config.models}
        self.partitions: dict[int, PartitionState] = {}

    # -- the partitions it owns -------------------------------------------------------------------
    def adopt(self, number: int, snapshot: Snapshot | None = None) -> PartitionState:
        """Take partition `number` on, fresh or from its snapshot (replacing any state held for it)."""
        previous = self.partitions.get(number)
        state = PartitionState(number, self._models, self.config.alerts, self.metrics)
        if snapshot is not None:
            state.restore(snapshot)
        if previous is not None:
            # Where processing began on topics the snapshot does not cover: a rewind goes back there.
            state.starts = {t: o for t, o in previous.starts.items() if t not in state.positions}
        self.partitions[number] = state
        return state

    def release(self, numbers: Iterable[int]) -> None:
        for number in numbers:
            self.partitions.pop(number, None)

    def snapshots(self, numbers: Iterable[int] | None = None) -> list[Snapshot]:
        group = self.config.consumer.group_id
        wanted = sorted(self.partitions if numbers is None else set(numbers) & set(self.partitions))
        return [self.partitions[n].snapshot(group) for n in wanted]

    # -- one batch --------------------------------------------------------------------------------
    def route(self, batch: Mapping[Any, Sequence[Any]]) -> Routed:
        """Records per (topic, partition), each list in offset order, as a consumer's poll returns them."""
        started = time.perf_counter()
        out = Routed()
        for records in batch.values():
            if not records:
                continue
            first = records[0]
            state = self.partitions.get(first.partition) or self.adopt(first.partition)
            out.alerts += self._route_partition(state, first.topic, records, out.dead_letters)
            state.advance(first.topic, first.offset, records[-1].offset + 1)
            out.positions[(first.topic, first.partition)] = records[-1].offset + 1
            out.records += len(records)
        for dead in out.dead_letters:
            self.metrics.dead_letters.labels(dead.reason).inc()
        self.metrics.batch_size.observe(out.records)
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        return out

    def _route_partition(self, state: PartitionState, topic: str, records: Sequence[Any],
                         dead: list[DeadLetter]) -> list[DriftAlert]:
        role = self.roles[topic]
        decoded = self._decoders[role].decode([r.value for r in records])
        dead += [DeadLetter(records[bad.index], bad.reason, bad.detail) for bad in decoded.rejected]
        by_model: dict[str, list[int]] = defaultdict(list)
        for j, event in enumerate(decoded.events):
            by_model[event.model_id].append(j)
        alerts: list[DriftAlert] = []
        for model_id, js in by_model.items():
            if model_id not in self._models:
                dead += [DeadLetter(records[decoded.indices[j]], "unknown_model",
                                    f"model_id {model_id!r} is not in the configuration's models") for j in js]
                continue
            events = [decoded.events[j] for j in js]
            where = Batch(topic, state.number, [records[decoded.indices[j]].offset for j in js],
                          [e.timestamp for e in events])
            self.metrics.events.labels(role, model_id).inc(len(events))
            alerts += state.monitor(model_id).observe(role, events, where)
        return alerts
