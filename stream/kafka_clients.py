"""The one place kafka-python clients are built: typed config in, configured clients out."""

from __future__ import annotations

import logging
import time
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
import kafka.errors as kafka_errors
from kafka.errors import KafkaError, TopicAlreadyExistsError

from .config import KafkaConfig, TopicsConfig
from .errors import BrokerError

log = logging.getLogger(__name__)


def client_kwargs(kafka: KafkaConfig) -> dict[str, Any]:
    """kafka-python keyword arguments for connection and security, shared by every client."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers.split(","),
        "client_id": kafka.client_id,
        "security_protocol": kafka.security_protocol,
        "request_timeout_ms": kafka.request_timeout_ms,
    }
    if kafka.security_protocol.startswith("SASL"):
        kwargs["sasl_mechanism"] = kafka.sasl_mechanism
        kwargs["sasl_plain_username"] = kafka.sasl_username
        kwargs["sasl_plain_password"] = kafka.sasl_password.get_secret_value() if kafka.sasl_password else None
    if kafka.security_protocol.endswith("SSL"):
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            value = getattr(kafka, name)
            if value is not None:
                kwargs[name] = str(value)
    return kwargs


def _connect(factory, kafka: KafkaConfig, what: str, **extra):
    try:
        return factory(**client_kwargs(kafka), **extra)
    except getattr(kafka_errors, "NoBrokersAvailable", kafka_errors.KafkaTimeoutError):
        raise BrokerError(
            f"no Kafka broker answered at {kafka.bootstrap_servers} for the {what}: check "
            "kafka.bootstrap_servers (or STREAMDRIFT_KAFKA__BOOTSTRAP_SERVERS) and that the broker is up"
        ) from None
    except KafkaError as exc:
        # Authentication failures land here; the message never carries the password.
        raise BrokerError(f"the {what} could not connect to {kafka.bootstrap_servers}: {exc}") from None


def make_producer(kafka: KafkaConfig, **extra: Any) -> KafkaProducer:
    """An idempotent, acks=all producer: retries never duplicate or reorder a partition's records."""
    settings = {
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "compression_type": None,
        **extra,
    }
    return _connect(KafkaProducer, kafka, "producer", **settings)


def make_consumer(kafka: KafkaConfig, **extra: Any) -> KafkaConsumer:
    return _connect(KafkaConsumer, kafka, "consumer", **extra)


def make_admin(kafka: KafkaConfig) -> KafkaAdminClient:
    return _connect(KafkaAdminClient, kafka, "admin client")


def ensure_topics(kafka: KafkaConfig, topics: TopicsConfig, timeout_s: float = 30.0) -> None:
    """Create the product's topics if missing; existing topics are left as they are."""
    data = [topics.features, topics.predictions, topics.labels]
    specs = [NewTopic(t, topics.partitions, topics.replication_factor) for t in data]
    specs += [
        NewTopic(topics.alerts, 1, topics.replication_factor),
        NewTopic(topics.dead_letter, 1, topics.replication_factor),
        # Compacted: only the latest snapshot per partition key is kept.
        NewTopic(
            topics.state,
            topics.partitions,
            topics.replication_factor,
            topic_configs={"cleanup.policy": "compact"},
        ),
    ]
    admin = make_admin(kafka)
    try:
        existing = set(admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if missing:
            try:
                admin.create_topics(missing, timeout_ms=int(timeout_s * 1000))
            except TopicAlreadyExistsError:
                pass
        deadline = time.monotonic() + timeout_s
        wanted = {s.name for s in specs}
        while not wanted <= set(admin.list_topics()):
            if time.monotonic() > deadline:
                raise BrokerError(f"topics {sorted(wanted - set(admin.list_topics()))} were not created in time")
            time.sleep(0.2)
    finally:
        admin.close()
