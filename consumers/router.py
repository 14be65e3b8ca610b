"""The pure heart of the service: a polled batch of records in; alerts, dead letters and positions out.

No Kafka client inside: the service feeds it from its consumer, the offline tools from files, and
both get the same alerts from the same records. It owns the state of the partitions it was given.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from stream.codec import BatchDecoder
from stream.config import Config
from stream.events import DATA_ROLES, EVENT_TYPES, DriftAlert, SignalStatus
from stream.metrics import ServiceMetrics

from .alerts import Batch
from .dead_letter import DeadLetter
from .partition import PartitionState, Snapshot


MAX_HELD = 50_000   # labels held per partition while its predictions and features catch up


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
    statuses: list[SignalStatus] = field(default_factory=list)   # signals that changed state
    dead_letters: list[DeadLetter] = field(default_factory=list)
    positions: dict[tuple[str, int], int] = field(default_factory=dict)   # (topic, partition) -> next offset
    records: int = 0
    event_times: dict[str, Any] = field(default_factory=dict)   # model_id -> latest event time routed


class Router:
    def __init__(self, config: Config, metrics: ServiceMetrics, quality_windows: int = 0):
        """`quality_windows`: completed data-quality windows each feature keeps for reports (the backtest's)."""
        self.config = config
        self._quality_windows = quality_windows
        self.metrics = metrics
        self.roles = config.topics.data_roles()   # topic -> role
        max_bytes = config.consumer.max_message_bytes
        self._decoders = {role: BatchDecoder(EVENT_TYPES[role], max_bytes) for role in self.roles.values()}
        self._models = {m.model_id: m for m in config.models}
        self.partitions: dict[int, PartitionState] = {}
        self._held: dict[tuple[str, int], list] = {}   # (labels topic, partition) -> records waiting for predictions
        self.profiles: dict = {}   # (model_id, version or None) -> ReferenceProfile, for `reference: training`

    # -- the partitions it owns -------------------------------------------------------------------
    def adopt(self, number: int, snapshot: Snapshot | None = None) -> PartitionState:
        """Take partition `number` on, fresh or from its snapshot (replacing any state held for it)."""
        previous = self.partitions.get(number)
        state = PartitionState(number, self._models, self.config.alerts, self.metrics, self.profiles,
                               self._quality_windows)
        if snapshot is not None:
            state.restore(snapshot)
        if previous is not None:
            # Where processing began on topics the snapshot does not cover: a rewind goes back there.
            state.starts = {t: o for t, o in previous.starts.items() if t not in state.positions}
        # Held labels are not yet positions: the consumer reads them again from the positions restored here.
        self._held = {k: v for k, v in self._held.items() if k[1] != number}
        self.partitions[number] = state
        return state

    def release(self, numbers: Iterable[int]) -> None:
        for number in numbers:
            self.partitions.pop(number, None)
            self._held = {k: v for k, v in self._held.items() if k[1] != number}

    def snapshots(self, numbers: Iterable[int] | None = None) -> list[Snapshot]:
        group = self.config.consumer.group_id
        wanted = sorted(self.partitions if numbers is None else set(numbers) & set(self.partitions))
        return [self.partitions[n].snapshot(group) for n in wanted]

    # -- one batch --------------------------------------------------------------------------------
    def route(self, batch: Mapping[Any, Sequence[Any]],
              upstream_read: Callable[[int], bool] = lambda partition: True) -> Routed:
        """Records per (topic, partition), each list in offset order, as a consumer's poll returns them.

        Labels are processed in event time behind their partition's predictions and features: a label
        later than what either has processed so far waits (held, its offset not yet a position) until
        they catch up, or until `upstream_read(partition)` says neither has records left to read. So a
        label always meets an already processed prediction (and the features a challenger learns from),
        whatever order the topics were fetched in, and any run over the same records joins the same
        pairs at the same points (Kafka Streams aligns co-partitioned inputs by timestamp the same way).
        """
        started = time.perf_counter()
        out = Routed()
        chunks = {(rs[0].topic, rs[0].partition): list(rs) for rs in batch.values() if rs}
        for key in self._held:
            chunks.setdefault(key, [])
        for (topic, partition), records in self._in_role_order(chunks):
            state = self.partitions.get(partition) or self.adopt(partition)
            out.records += len(records)
            if self.roles[topic] == "labels":
                records = self._labels_due(state, topic, self._held.pop((topic, partition), []) + records,
                                           upstream_read(partition))
            if not records:
                continue
            self._route_partition(state, topic, records, out)
            state.advance(topic, records[0].offset, records[-1].offset + 1)
            out.positions[(topic, partition)] = records[-1].offset + 1
        for dead in out.dead_letters:
            self.metrics.dead_letters.labels(dead.reason).inc()
        self.metrics.batch_size.observe(out.records)
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        return out

    def route_events(self, batch: Mapping[tuple[str, int], Sequence[tuple[int, Any]]]) -> Routed:
        """Already validated events with the offsets they have (or would have) on their topic partitions,
        in event-time order per partition: the offline tools' way in, past decoding, to the same monitors."""
        out = Routed()
        for (topic, partition), items in self._in_role_order({k: v for k, v in batch.items() if v}):
            state = self.partitions.get(partition) or self.adopt(partition)
            offsets = [offset for offset, _ in items]
            self.observe(state, topic, offsets, [event for _, event in items], out)
            state.advance(topic, offsets[0], offsets[-1] + 1)
            out.positions[(topic, partition)] = offsets[-1] + 1
            out.records += len(items)
        return out

    def _in_role_order(self, chunks: dict) -> list:
        """Features, then predictions, then labels: a label routed with its prediction joins it at once."""
        order = {role: i for i, role in enumerate(DATA_ROLES)}
        return sorted(chunks.items(), key=lambda kv: (order[self.roles[kv[0][0]]], kv[0]))

    def _labels_due(self, state: PartitionState, topic: str, records: list, upstream_read: bool) -> list:
        """The labels that may be processed now; the rest are held, from the first one later than what
        the partition's predictions or features have processed (unless neither has records left to read).
        Until a prediction is processed every label waits; features hold labels back once some were
        processed (a model may publish none, or only inline with its predictions).

        Held labels stay in memory (pausing the partition instead can leave kafka-python 3.0 never
        fetching it again); past MAX_HELD a partition's oldest are processed anyway, out of order.
        """
        if upstream_read or not records:
            return records
        topics = self.config.topics
        watermark = state.event_times.get(topics.predictions)   # None: no prediction processed, all wait
        features = state.event_times.get(topics.features)
        if watermark is not None and features is not None:
            watermark = min(watermark, features)
        times = self._decoders["labels"].times([r.value for r in records])
        cut = next((i for i, t in enumerate(times) if t is not None and (watermark is None or t > watermark)),
                   len(records))
        cut = max(cut, len(records) - MAX_HELD)
        if cut < len(records):
            self._held[(topic, state.number)] = records[cut:]
        return records[:cut]

    @property
    def holding(self) -> bool:
        return bool(self._held)

    def held(self, topic: str, partition: int) -> int:
        """Labels held back on a partition, waiting for its predictions and features."""
        return len(self._held.get((topic, partition), ()))

    def _route_partition(self, state: PartitionState, topic: str, records: Sequence[Any], out: Routed) -> None:
        decoded = self._decoders[self.roles[topic]].decode([r.value for r in records])
        out.dead_letters += [DeadLetter(records[bad.index], bad.reason, bad.detail) for bad in decoded.rejected]
        unknown = self.observe(state, topic, [records[i].offset for i in decoded.indices], decoded.events, out)
        out.dead_letters += [DeadLetter(records[decoded.indices[j]], "unknown_model",
                                        f"model_id {decoded.events[j].model_id!r} is not in the configuration's models")
                             for j in unknown]

    def observe(self, state: PartitionState, topic: str, offsets: Sequence[int], events: Sequence[Any],
                out: Routed) -> list[int]:
        """Valid events of one topic partition, in offset order, to their models' monitors; returns the
        positions of events of models that are not configured. The offline tools enter here."""
        role = self.roles[topic]
        by_model: dict[str, list[int]] = defaultdict(list)
        for j, event in enumerate(events):
            by_model[event.model_id].append(j)
        unknown: list[int] = []
        for model_id, js in by_model.items():
            if model_id not in self._models:
                unknown += js
                continue
            chosen = [events[j] for j in js]
            where = Batch(topic, state.number, [offsets[j] for j in js], [e.timestamp for e in chosen])
            latest = max(where.times)
            if topic not in state.event_times or latest > state.event_times[topic]:
                state.event_times[topic] = latest
            if model_id not in out.event_times or latest > out.event_times[model_id]:
                out.event_times[model_id] = latest
            self.metrics.events.labels(role, model_id).inc(len(chosen))
            alerts, statuses = state.monitor(model_id).observe(role, chosen, where)
            out.alerts += alerts
            out.statuses += statuses
        return sorted(unknown)
