"""The app-facing SDK: publish features, predictions and labels in three lines::

    from producers import EventProducer

    with EventProducer("localhost:9092") as events:
        events.features("fraud-v2", {"amount": 12.5, "country": "DE"}, event_id="req-1")
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from kafka.producer.future import FutureRecordMetadata

from stream.codec import encode
from stream.config import KafkaConfig, TopicsConfig
from stream.events import FeatureEvent, LabelEvent, PredictionEvent, role_of
from stream.kafka_clients import make_producer


class EventProducer:
    """Idempotent, acks=all, keyed by model_id so a model's events stay in order on one partition.

    Events are validated before they leave the app, so a typo fails at the call site, not in the monitor.
    """

    def __init__(self, kafka: KafkaConfig | str = "localhost:9092", topics: TopicsConfig | None = None,
                 **producer_options: Any):
        self.kafka = KafkaConfig(bootstrap_servers=kafka) if isinstance(kafka, str) else kafka
        self.topics = topics or TopicsConfig()
        self._producer = make_producer(self.kafka, **producer_options)

    def send(self, event: FeatureEvent | PredictionEvent | LabelEvent) -> FutureRecordMetadata:
        topic = self.topics.of_role(role_of(event))
        return self._producer.send(topic, key=event.model_id.encode(), value=encode(event))

    def features(self, model_id: str, features: Mapping[str, Any], *, event_id: str | None = None,
                 timestamp: datetime | None = None, segment: Mapping[str, Any] | None = None) -> FutureRecordMetadata:
        return self.send(FeatureEvent(event_id=event_id or _new_id(), model_id=model_id,
                                      timestamp=timestamp or _now(), features=dict(features),
                                      segment=dict(segment) if segment else None))

    def prediction(self, model_id: str, prediction: Any, *, event_id: str | None = None,
                   model_version: str = "unversioned", score: float | None = None,
                   features: Mapping[str, Any] | None = None, timestamp: datetime | None = None,
                   segment: Mapping[str, Any] | None = None) -> FutureRecordMetadata:
        return self.send(PredictionEvent(event_id=event_id or _new_id(), model_id=model_id,
                                         model_version=model_version, timestamp=timestamp or _now(),
                                         prediction=prediction, score=score,
                                         features=dict(features) if features else None,
                                         segment=dict(segment) if segment else None))

    def label(self, model_id: str, event_id: str, label: Any, *,
              timestamp: datetime | None = None) -> FutureRecordMetadata:
        return self.send(LabelEvent(event_id=event_id, model_id=model_id, timestamp=timestamp or _now(), label=label))

    def flush(self, timeout: float | None = None) -> None:
        self._producer.flush(timeout)

    def close(self, timeout: float | None = None) -> None:
        self._producer.flush(timeout)
        self._producer.close(timeout)

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _new_id() -> str:
    return uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(timezone.utc)
