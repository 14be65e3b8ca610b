"""Reading back from Kafka what `report` and `explain` show: the alert and status topics to their end, and a
stretch of a data topic partition between two offsets, decoded as the events it carries (read_committed)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from kafka import TopicPartition

from stream.codec import BatchDecoder
from stream.config import Config
from stream.errors import StreamdriftError
from stream.events import EVENT_TYPES, DriftAlert, SignalStatus
from stream.kafka_clients import make_admin, make_consumer, topic_partitions

log = logging.getLogger(__name__)

MAX_SCANNED = 5_000_000   # records read at most to gather one window of a model that shares its partition


class ReadError(StreamdriftError):
    """A topic could not be read as asked; the message says which and what to do."""


class RetentionError(ReadError):
    """The offsets an alert points at are no longer kept by the topic."""


def read_alerts(config: Config, timeout_s: float = 60.0,
                on_problem: Callable[[str], None] = log.warning) -> list[DriftAlert]:
    """Every alert on the alert topic, as committed (read_committed), in topic order."""
    alerts = []
    for record in _read_topic(config, config.topics.alerts, "topics.alerts", timeout_s):
        try:
            alerts.append(DriftAlert.model_validate_json(record.value))
        except ValueError as exc:
            on_problem(f"offset {record.offset} of {config.topics.alerts} is not an alert this version reads: "
                       f"{str(exc).splitlines()[0]}")
    return alerts


def read_statuses(config: Config, timeout_s: float = 60.0,
                  on_problem: Callable[[str], None] = log.warning) -> list[SignalStatus]:
    """The latest state of every signal on the compacted status topic."""
    latest: dict[bytes, SignalStatus | None] = {}
    for record in _read_topic(config, config.topics.status, "topics.status", timeout_s):
        if record.value is None:
            latest[record.key] = None
            continue
        try:
            latest[record.key] = SignalStatus.model_validate_json(record.value)
        except ValueError as exc:
            on_problem(f"offset {record.offset} of {config.topics.status} is not a signal status: "
                       f"{str(exc).splitlines()[0]}")
    return [s for s in latest.values() if s is not None]


def _read_topic(config: Config, topic: str, setting: str, timeout_s: float) -> Iterator[Any]:
    reader = make_consumer(config.kafka, enable_auto_commit=False, isolation_level="read_committed")
    try:
        deadline = time.monotonic() + timeout_s
        tps = _partitions(reader, topic, setting, deadline)
        reader.assign(tps)
        reader.seek_to_beginning(*tps)
        end = reader.end_offsets(tps)
        records = []
        while any(reader.position(tp) < end[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise ReadError(f"could not read {topic} to its end ({end}) in {timeout_s:.0f} s")
            for batch in reader.poll(timeout_ms=300).values():
                records.extend(batch)
        yield from sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        reader.close()


def _partitions(reader, topic: str, setting: str, deadline: float) -> list[TopicPartition]:
    found = topic_partitions(reader, topic, deadline)
    if found is None:
        raise ReadError(f"topic {topic!r} does not exist at the broker: check {setting} in the configuration "
                        "(and kafka.bootstrap_servers)")
    return found


class PartitionReader:
    """One partition of a features, predictions or labels topic, read between offsets and decoded.

    Records are filtered by key (the model id) before decoding, so a model that shares its partition with
    busy ones costs fetching, not parsing.
    """

    def __init__(self, config: Config, topic: str, partition: int, timeout_s: float = 60.0):
        role = config.topics.data_roles().get(topic)
        if role is None:
            raise ReadError(f"topic {topic!r} is none of the data topics of this configuration (features "
                            f"{config.topics.features!r}, predictions {config.topics.predictions!r}, labels "
                            f"{config.topics.labels!r}): give the service's own configuration with --config")
        self.config = config
        self.role = role
        self.timeout_s = timeout_s
        self.scanned = 0
        self._decoder = BatchDecoder(EVENT_TYPES[role], config.consumer.max_message_bytes)
        self._consumer = make_consumer(config.kafka, enable_auto_commit=False, isolation_level="read_committed")
        try:
            found = _partitions(self._consumer, topic, f"topics.{role}", time.monotonic() + timeout_s)
            self.tp = TopicPartition(topic, partition)
            if self.tp not in found:
                raise ReadError(f"topic {topic!r} has no partition {partition} (it has {len(found)})")
            self._consumer.assign([self.tp])
            self.start = self._consumer.beginning_offsets([self.tp])[self.tp]   # the first offset still retained
            self.end = self._consumer.end_offsets([self.tp])[self.tp]           # the last stable offset + 1
        except BaseException:
            self._consumer.close()
            raise

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> PartitionReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def read(self, start: int, stop: int, key: bytes | None = None) -> list[tuple[int, Any]]:
        """(offset, event) of the valid events in [start, stop) under `key` (every key if None)."""
        start, stop = max(start, self.start), min(stop, self.end)
        if start >= stop:
            return []
        self._consumer.seek(self.tp, start)
        values, offsets = [], []
        stalled = time.monotonic() + self.timeout_s
        while self._consumer.position(self.tp) < stop:
            if time.monotonic() > stalled:
                raise ReadError(f"reading {self.tp.topic} partition {self.tp.partition} stalled at offset "
                                f"{self._consumer.position(self.tp)} (wanted up to {stop}) for {self.timeout_s:.0f} s")
            records = self._consumer.poll(timeout_ms=500).get(self.tp, [])
            if records:
                stalled = time.monotonic() + self.timeout_s
            for record in records:
                if record.offset >= stop:
                    break
                if record.offset < start:   # fetched for an earlier position
                    continue
                self.scanned += 1
                if key is None or record.key == key:
                    values.append(record.value)
                    offsets.append(record.offset)
        decoded = self._decoder.decode(values)
        return [(offsets[i], event) for i, event in zip(decoded.indices, decoded.events)]

    def backward(self, stop: int, lower: int, want: int, keep: Callable[[Any], bool],
                 key: bytes | None = None) -> list[tuple[int, Any]]:
        """The last `want` kept events before offset `stop`, not below `lower`, in offset order."""
        lower = max(lower, self.start)
        found: list[tuple[int, Any]] = []
        chunk, high = max(2 * want, 2_000), min(stop, self.end)
        while len(found) < want and high > lower and self.scanned < MAX_SCANNED:
            low = max(lower, high - chunk)
            found = [item for item in self.read(low, high, key) if keep(item[1])] + found
            high, chunk = low, chunk * 2
        return found[-want:] if want else []

    def forward(self, start: int, upper: int, want: int, keep: Callable[[Any], bool],
                key: bytes | None = None) -> list[tuple[int, Any]]:
        """The first `want` kept events from offset `start`, below `upper`, in offset order."""
        upper = min(upper, self.end)
        found: list[tuple[int, Any]] = []
        chunk, low = max(2 * want, 2_000), max(start, self.start)
        while len(found) < want and low < upper and self.scanned < MAX_SCANNED:
            high = min(upper, low + chunk)
            found += [item for item in self.read(low, high, key) if keep(item[1])]
            low, chunk = high, chunk * 2
        return found[:want]


def retention_hint(config: Config, topic: str) -> str:
    """What the topic keeps, and how to keep more: for the message of a RetentionError."""
    keep = "raise the topic's retention.ms (kafka-configs.sh --bootstrap-server " \
           f"{config.kafka.bootstrap_servers} --alter --entity-type topics --entity-name {topic} " \
           "--add-config retention.ms=...)"
    try:
        from kafka.admin import ConfigResource, ConfigResourceType

        admin = make_admin(config.kafka)
        try:
            found = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                                           configs={"retention.ms": None, "retention.bytes": None})],
                                           config_filter="all")
        finally:
            admin.close()
        settings = {k: v["value"] for k, v in found["topic"][topic].items()}
    except Exception as exc:   # the hint is a courtesy: an ACL or an old broker must not hide the real error
        log.debug("could not describe %s: %s", topic, exc)
        return keep
    parts = []
    ms = settings.get("retention.ms")
    if ms is not None:
        parts.append("retention.ms=-1 (forever)" if ms == "-1" else f"retention.ms={ms} ({_duration(int(ms))})")
    size = settings.get("retention.bytes")
    if size is not None and size != "-1":
        parts.append(f"retention.bytes={size} per partition")
    return f"{topic} keeps {', '.join(parts)}; {keep}" if parts else keep


def _duration(ms: int) -> str:
    seconds = ms / 1000
    for unit, size in (("days", 86_400), ("hours", 3_600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"
