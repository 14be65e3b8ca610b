"""The one place kafka-python clients are built: typed config in, configured clients out."""

from __future__ import annotations

import logging
import time
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
import kafka.errors as kafka_errors
from kafka.errors import KafkaError, TopicAlreadyExistsError

from .config import KafkaConfig, TopicsConfig
from .errors import BrokerError
from .kafka_compat import complete_orphaned_joins
from .record_batches import install as parse_records_fast
from .sasl_login import check_credentials
from .socket_reads import install as read_sockets_in_large_chunks

log = logging.getLogger(__name__)


class _RedactSecrets(logging.Filter):
    """Masks every password handed to kafka-python in the records of its loggers that can show one.

    At DEBUG, KafkaAdminClient logs its whole configuration (sasl_plain_password included), and the
    protocol loggers print SASL/PLAIN tokens, which carry the password in clear.
    """

    LOGGERS = ("kafka.admin.client", "kafka.net.connection", "kafka.protocol.parser")

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def add(self, secret: str) -> None:
        # As written, and as it appears inside the repr of the bytes that carry it.
        self.secrets |= {secret, repr(secret.encode())[2:-1]}

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            if any(secret in message for secret in self.secrets):
                for secret in sorted(self.secrets, key=len, reverse=True):
                    message = message.replace(secret, "***")
                record.msg, record.args = message, None
        return True


_redact = _RedactSecrets()
for _name in _RedactSecrets.LOGGERS:
    logging.getLogger(_name).addFilter(_redact)


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
        if kwargs["sasl_plain_password"]:
            # The secret leaves its SecretStr here, so from here on kafka-python's logs must not show it.
            _redact.add(kwargs["sasl_plain_password"])
    if kafka.security_protocol.endswith("SSL"):
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            value = getattr(kafka, name)
            if value is not None:
                kwargs[name] = str(value)
    return kwargs


def _connect(factory, kafka: KafkaConfig, what: str, **extra):
    # kafka-python 3.0 retries a refused SASL login until its 30 s bootstrap timeout and then reports
    # only "Unable to bootstrap", so the credentials are checked first, once, on a connection of our own.
    if kafka.security_protocol.startswith("SASL"):
        check_credentials(kafka, what)
    read_sockets_in_large_chunks()   # process-wide: 4 KiB reads starve the IO thread of the GIL (socket_reads.py)
    try:
        return factory(**client_kwargs(kafka), **extra)
    except kafka_errors.KafkaTimeoutError:
        # kafka-python 3 reports an unreachable bootstrap as a timeout.
        raise BrokerError(
            f"no Kafka broker answered at {kafka.bootstrap_servers} for the {what}: check "
            "kafka.bootstrap_servers (or STREAMDRIFT_KAFKA__BOOTSTRAP_SERVERS) and that the broker is up"
        ) from None
    except KafkaError as exc:
        # kafka-python's messages never carry the password; ours name only user, mechanism and address.
        hint = ""
        if kafka.security_protocol != "PLAINTEXT":
            hint = (f" (security_protocol {kafka.security_protocol}: check that the broker's listener speaks it"
                    + (f" and that user {kafka.sasl_username!r} may log in with {kafka.sasl_mechanism})"
                       if kafka.sasl_username else ")"))
        raise BrokerError(f"the {what} could not connect to {kafka.bootstrap_servers}: {exc}{hint}") from None


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
    consumer = complete_orphaned_joins(_connect(KafkaConsumer, kafka, "consumer", **extra))
    parse_records_fast(consumer)  # kafka-python's per-record parsing was most of poll's time
    return consumer


def make_admin(kafka: KafkaConfig, **extra: Any) -> KafkaAdminClient:
    return _connect(KafkaAdminClient, kafka, "admin client", **extra)


# The largest record of the state topic: a partition's whole snapshot (compressed) is one record, and the
# label join's pending predictions alone take ~16 bytes each (100,000 per model by default).
STATE_MAX_BYTES = 16 * 1024 * 1024


def ensure_topics(kafka: KafkaConfig, topics: TopicsConfig, timeout_s: float = 30.0) -> None:
    """Create the product's topics if missing; existing topics are left as they are."""
    data = [topics.features, topics.predictions, topics.labels]
    specs = [NewTopic(t, topics.partitions, topics.replication_factor) for t in data]
    specs += [
        NewTopic(topics.alerts, 1, topics.replication_factor),
        NewTopic(topics.dead_letter, 1, topics.replication_factor),
        # Compacted: only the latest record per key is kept (snapshot per partition, profile per model,
        # state per signal).
        NewTopic(topics.state, topics.partitions, topics.replication_factor,
                 topic_configs={"cleanup.policy": "compact", "max.message.bytes": str(STATE_MAX_BYTES)}),
        NewTopic(topics.references, 1, topics.replication_factor, topic_configs={"cleanup.policy": "compact"}),
        NewTopic(topics.status, 1, topics.replication_factor, topic_configs={"cleanup.policy": "compact"}),
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


def topic_partitions(consumer: KafkaConsumer, topic: str, deadline: float) -> list[TopicPartition] | None:
    """The partitions of a topic, once the consumer's metadata has them; None if the topic does not exist
    by `deadline` (time.monotonic()): the caller says which setting names it."""
    while True:
        found = consumer.partitions_for_topic(topic)
        if found:
            return [TopicPartition(topic, p) for p in sorted(found)]
        if time.monotonic() > deadline:
            return None
        time.sleep(0.2)
