"""Reference profiles on Kafka: published to the compacted references topic, read back to its end, and built
from a time range of the live feature and prediction topics.

The references topic holds one record per key, ``model_id`` or ``model_id/version``, whose value is the
profile's JSON (a null value withdraws it). Profiles are sent gzip-compressed: 2,000 quantiles of each of 20
full-precision numeric features are 746 kB of JSON, 338 kB compressed, and the broker's default limit
(``message.max.bytes``, 1 MB) applies to the compressed batch.
"""

from __future__ import annotations

import gzip
import logging
import math
import time
from collections.abc import Callable
from datetime import datetime, timezone

from kafka import TopicPartition
from kafka.errors import KafkaError, MessageSizeTooLargeError

from .codec import BatchDecoder
from .config import Config, ModelConfig
from .events import FeatureEvent, PredictionEvent
from .kafka_clients import make_consumer, make_producer, topic_partitions
from .profile import ProfileError, ProfileSource, ReferenceProfile
from .profile_build import DEFAULT_SAMPLE, ProfileBuilder

log = logging.getLogger(__name__)

MAX_PROFILE_BYTES = 64 << 20     # the producer's own limit on the uncompressed JSON; the broker's is on the compressed
Progress = Callable[[int, int | None], None]   # (records read, records in the range)


def publish_profile(config: Config, profile: ReferenceProfile, timeout_s: float = 60.0) -> int:
    """Publish to the compacted references topic under the profile's key; returns the JSON's size in bytes."""
    value = profile.to_json()
    topic = config.topics.references
    producer = make_producer(config.kafka, compression_type="gzip", max_request_size=MAX_PROFILE_BYTES)
    try:
        producer.send(topic, key=profile.key.encode(), value=value).get(timeout=timeout_s)
    except MessageSizeTooLargeError:
        compressed = len(gzip.compress(value))
        wanted = math.ceil(compressed * 1.25 / (1 << 20)) << 20
        raise ProfileError(
            f"the profile of {profile.key} ({len(value) / 1e6:.1f} MB of JSON, about {compressed / 1e6:.1f} MB "
            f"compressed) is larger than the broker accepts on {topic}: raise the topic's max.message.bytes "
            f"(kafka-configs.sh --bootstrap-server {config.kafka.bootstrap_servers} --alter --entity-type topics "
            f"--entity-name {topic} --add-config max.message.bytes={wanted}), or keep the profile in a file with "
            f"--output and --no-publish") from None
    except KafkaError as exc:
        raise ProfileError(f"the profile of {profile.key} could not be published to {topic} at "
                           f"{config.kafka.bootstrap_servers}: {exc}") from None
    finally:
        producer.close(timeout=timeout_s)
    return len(value)


def read_published(config: Config, timeout_s: float = 60.0,
                   on_problem: Callable[[str], None] = log.warning) -> dict[str, ReferenceProfile]:
    """The latest profile under each key of the references topic, read (read_committed) to its end.

    A record that is not a profile this version can read is reported to `on_problem` and left out.
    """
    topic = config.topics.references
    latest: dict[bytes, ReferenceProfile | None] = {}
    reader = make_consumer(config.kafka, enable_auto_commit=False, isolation_level="read_committed")
    try:
        deadline = time.monotonic() + timeout_s
        tps = _partitions(reader, topic, deadline, "topics.references")
        reader.assign(tps)
        reader.seek_to_beginning(*tps)
        end = reader.end_offsets(tps)
        remaining = {tp for tp in tps if end[tp] > 0}
        while remaining and time.monotonic() < deadline:
            for records in reader.poll(timeout_ms=500).values():
                for record in records:
                    if record.value is None:
                        latest[record.key] = None
                        continue
                    try:
                        latest[record.key] = ReferenceProfile.from_json(
                            record.value, f"the profile under key {record.key!r} of {topic} (offset {record.offset})")
                    except ProfileError as exc:
                        on_problem(str(exc))
            remaining = {tp for tp in remaining if reader.position(tp) < end[tp]}
        if remaining:
            raise ProfileError(f"could not read {topic} to its end in {timeout_s:.0f} s")
    finally:
        reader.close()
    return {p.key: p for p in latest.values() if p is not None}


def read_profiles(config: Config, timeout_s: float = 60.0, on_problem: Callable[[str], None] = log.warning
                  ) -> dict[tuple[str, str | None], ReferenceProfile]:
    """(model_id, model_version or None) -> the published profile, for the configured models whose profile
    matches their configuration; any other is reported to `on_problem` (say why and how to fix it) and left out.
    """
    found: dict[tuple[str, str | None], ReferenceProfile] = {}
    for profile in read_published(config, timeout_s, on_problem).values():
        model = config.model(profile.model_id)
        if model is None:
            continue     # a model this service does not watch
        try:
            profile.check(model)
        except ProfileError as exc:
            on_problem(f"{exc}; until then the model's first events serve as its reference")
            continue
        found[(profile.model_id, profile.model_version)] = profile
    return found


def build_from_topics(config: Config, model: ModelConfig, since: datetime, until: datetime, *,
                      version: str | None = None, sample_size: int = DEFAULT_SAMPLE, seed: int = 0,
                      progress: Progress | None = None, timeout_s: float = 60.0,
                      built_at: datetime | None = None) -> ReferenceProfile:
    """The profile of `model` over its feature and prediction events with event time in [since, until).

    The offsets are found with the records' Kafka timestamps (offsets_for_times), then each partition is read
    (read_committed) from the first record at or after `since` up to the first at or after `until`, one
    partition after another in a fixed order, so the same range gives the same profile. Events are kept by
    their own event time; messages that are not valid events are counted in the source's `skipped`.
    """
    since, until = _utc(since), _utc(until)
    if until <= since:
        raise ProfileError(f"--until ({until.isoformat()}) must be after --since ({since.isoformat()})")
    topics = config.topics
    names = (topics.features, topics.predictions)
    decoders = {topics.features: BatchDecoder(FeatureEvent, config.consumer.max_message_bytes),
                topics.predictions: BatchDecoder(PredictionEvent, config.consumer.max_message_bytes)}
    builder = ProfileBuilder(model, version=version, sample_size=sample_size, seed=seed, wrong_type="count")
    reader = make_consumer(config.kafka, enable_auto_commit=False, isolation_level="read_committed")
    skipped = 0
    try:
        deadline = time.monotonic() + timeout_s
        tps = [tp for name, role in zip(names, ("topics.features", "topics.predictions"))
               for tp in _partitions(reader, name, deadline, role)]
        ranges = _offsets(reader, tps, since, until, timeout_s)
        total, done = sum(stop - start for start, stop in ranges.values()), 0
        for tp in tps:
            start, stop = ranges[tp]
            if start >= stop:
                continue
            done += stop - start
            reader.assign([tp])
            reader.seek(tp, start)
            stalled = time.monotonic() + timeout_s
            while (position := reader.position(tp)) < stop:
                if time.monotonic() > stalled:
                    raise ProfileError(f"reading {tp.topic} partition {tp.partition} stalled at offset {position} "
                                       f"(wanted up to {stop}) for {timeout_s:.0f} s")
                records = [r for r in reader.poll(timeout_ms=500).get(tp, []) if r.offset < stop]
                if not records:
                    continue
                stalled = time.monotonic() + timeout_s
                decoded = decoders[tp.topic].decode([r.value for r in records])
                skipped += len(decoded.rejected)
                builder.add(e for e in decoded.events if since <= e.timestamp < until)
                if progress:
                    progress(done - (stop - records[-1].offset - 1), total)
        if progress:
            progress(total, total)
    finally:
        reader.close()
    source = ProfileSource(kind="topics", topics=names, since=since, until=until, skipped=skipped,
                           offsets={f"{tp.topic}/{tp.partition}": ranges[tp] for tp in tps})
    return builder.finish(source, built_at=built_at)


def _partitions(reader, topic: str, deadline: float, setting: str) -> list[TopicPartition]:
    found = topic_partitions(reader, topic, deadline)
    if found is None:
        raise ProfileError(f"topic {topic!r} does not exist: check {setting} in the configuration (and "
                           "kafka.bootstrap_servers), or run the service once to create the topics")
    return found


def _offsets(reader, tps: list[TopicPartition], since: datetime, until: datetime,
             timeout_s: float) -> dict[TopicPartition, tuple[int, int]]:
    """[first offset at or after since, first offset at or after until) per partition, within what is committed."""
    timeout_ms = int(timeout_s * 1000)
    starts = reader.offsets_for_times({tp: _millis(since) for tp in tps}, timeout_ms=timeout_ms)
    stops = reader.offsets_for_times({tp: _millis(until) for tp in tps}, timeout_ms=timeout_ms)
    ends = reader.end_offsets(tps, timeout_ms=timeout_ms)
    ranges = {}
    for tp in tps:
        end = ends[tp]
        start = starts[tp].offset if starts.get(tp) is not None else end
        stop = stops[tp].offset if stops.get(tp) is not None else end
        ranges[tp] = (min(start, end), min(stop, end))
    return ranges


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when


def _millis(when: datetime) -> int:
    return max(0, int(when.timestamp() * 1000))
