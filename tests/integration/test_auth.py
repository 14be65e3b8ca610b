"""Authentication against a real broker: SASL/SCRAM (and SASL over TLS) accepts the right user, refuses the wrong one.

The broker here is our own LocalKafka with a SCRAM listener, whatever STREAMDRIFT_BOOTSTRAP says: the
session broker is PLAINTEXT and cannot tell right credentials from wrong ones.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time

import pytest
from kafka import TopicPartition

from consumers.service import MonitorService
from producers import EventProducer
from stream.broker import LocalKafka
from stream.config import KafkaConfig, TopicsConfig
from stream.errors import BrokerError
from stream.kafka_clients import ensure_topics, make_admin, make_consumer, make_producer

from tests.conftest import running

from .helpers import make_config, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.recovery]

USER = "alice"
PASSWORD = "alice-Secret-7f3a9c"  # noqa: S105 - a test user of a throwaway broker
WRONG = "not-Alice-Pass-2b8e1d"
FAIL_FAST_S = 5.0  # kafka-python alone would retry a refused login for its 30 s bootstrap timeout


def debug_logs(caplog) -> None:
    """Capture everything, kafka-python included (`streamdrift` commands set the "kafka" logger to WARNING)."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="kafka")


@pytest.fixture(scope="module")
def scram_broker():
    broker = LocalKafka.with_scram({USER: PASSWORD})
    broker.start(progress=lambda msg: None)
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


def sasl(bootstrap: str, password: str = PASSWORD, mechanism: str = "SCRAM-SHA-512", user: str = USER,
         protocol: str = "SASL_PLAINTEXT", **tls) -> KafkaConfig:
    return KafkaConfig(bootstrap_servers=bootstrap, security_protocol=protocol, sasl_mechanism=mechanism,
                       sasl_username=user, sasl_password=password, request_timeout_ms=10_000, **tls)


def topics_for(suffix: str) -> TopicsConfig:
    return TopicsConfig(**{role: f"auth{suffix}.{role}" for role in
                           ("features", "predictions", "labels", "alerts", "dead_letter", "state", "references", "status")}, partitions=1)


def consume_one(kafka: KafkaConfig, topic: str, group: str, timeout_s: float = 30.0):
    consumer = make_consumer(kafka, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False)
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                if records:
                    return records[0]
        raise AssertionError(f"nothing arrived on {topic} within {timeout_s:.0f} s")
    finally:
        consumer.close()


def round_trip(kafka: KafkaConfig, suffix: str) -> None:
    topics = topics_for(suffix)
    ensure_topics(kafka, topics)
    producer = make_producer(kafka)
    try:
        producer.send(topics.alerts, key=b"k", value=b"hello over SCRAM").get(timeout=30)
    finally:
        producer.close()
    assert consume_one(kafka, topics.alerts, f"g{suffix}a").value == b"hello over SCRAM"

    with EventProducer(kafka, topics) as events:
        events.features("fraud-v2", {"amount": 12.5}, event_id=f"e-{suffix}").get(timeout=30)
    assert f"e-{suffix}".encode() in consume_one(kafka, topics.features, f"g{suffix}f").value


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "SCRAM-SHA-256"])
def test_right_credentials_round_trip_through_our_clients_and_the_sdk(scram_broker, unique, mechanism, caplog):
    debug_logs(caplog)
    round_trip(sasl(scram_broker, mechanism=mechanism), unique)
    # kafka-python's admin client logs its configuration, password included, at DEBUG; we mask it.
    assert "Starting KafkaAdminClient with configuration" in caplog.text
    assert PASSWORD not in caplog.text


FACTORIES = {
    "producer": make_producer,
    "consumer": make_consumer,
    "admin client": make_admin,
    "SDK producer": EventProducer,
}


@pytest.mark.parametrize("what", FACTORIES)
def test_wrong_password_is_refused_fast_and_clearly_without_showing_it(scram_broker, caplog, what):
    debug_logs(caplog)
    kafka = sasl(scram_broker, password=WRONG)
    started = time.monotonic()
    with pytest.raises(BrokerError) as refused:
        FACTORIES[what](kafka)
    elapsed = time.monotonic() - started

    assert elapsed < FAIL_FAST_S, f"refusal took {elapsed:.1f} s"
    message = str(refused.value)
    assert "authentication failed" in message
    assert f"user '{USER}'" in message and "SCRAM-SHA-512" in message and scram_broker in message
    assert "STREAMDRIFT_KAFKA__SASL_PASSWORD" in message  # says how to fix it
    shown = [message, repr(refused.value), caplog.text, refused.getrepr(style="long").__str__()]
    for text in shown:
        assert WRONG not in text and PASSWORD not in text


def test_unknown_user_and_wrong_mechanism_are_refused(scram_broker, caplog):
    debug_logs(caplog)
    with pytest.raises(BrokerError, match="authentication failed for user 'mallory'"):
        make_admin(sasl(scram_broker, user="mallory"))
    with pytest.raises(BrokerError, match="does not enable PLAIN"):
        make_admin(sasl(scram_broker, mechanism="PLAIN"))
    assert PASSWORD not in caplog.text


def test_monitor_service_with_wrong_credentials_does_not_start(scram_broker, unique, caplog):
    debug_logs(caplog)
    kafka = sasl(scram_broker, password=WRONG).model_dump(mode="json")
    kafka["sasl_password"] = WRONG  # model_dump masks the SecretStr
    config = make_config(scram_broker, unique, [{"model_id": "m", "features": [{"name": "x"}]}], kafka=kafka)
    service = MonitorService(config)
    started = time.monotonic()
    with pytest.raises(BrokerError, match="authentication failed for user 'alice'") as refused:
        service.connect()
    assert time.monotonic() - started < FAIL_FAST_S
    assert WRONG not in str(refused.value) and WRONG not in caplog.text


def _self_signed(folder, password: str) -> dict[str, str]:
    """A PKCS12 keystore for 127.0.0.1, a truststore holding its certificate, and that certificate as PEM."""
    keytool = shutil.which("keytool")
    if keytool is None:
        pytest.skip("keytool (from the JDK) is needed to make a test certificate")
    keystore, truststore, pem = folder / "broker.p12", folder / "trust.p12", folder / "broker.pem"
    common = ["-storetype", "PKCS12", "-storepass", password, "-noprompt"]
    subprocess.run([keytool, "-genkeypair", "-alias", "broker", "-keyalg", "RSA", "-keysize", "2048",
                    "-validity", "2", "-dname", "CN=127.0.0.1", "-ext", "SAN=ip:127.0.0.1,dns:localhost",
                    "-keystore", str(keystore), *common], check=True, capture_output=True)
    subprocess.run([keytool, "-exportcert", "-rfc", "-alias", "broker", "-file", str(pem),
                    "-keystore", str(keystore), *common], check=True, capture_output=True)
    subprocess.run([keytool, "-importcert", "-alias", "broker", "-file", str(pem),
                    "-keystore", str(truststore), *common], check=True, capture_output=True)
    return {"keystore": str(keystore), "truststore": str(truststore), "password": password, "cafile": str(pem)}


def test_sasl_over_tls(tmp_path, unique, caplog):
    debug_logs(caplog)
    tls = _self_signed(tmp_path, "store-pass-1")
    broker = LocalKafka.with_scram({USER: PASSWORD}, tls=tls)
    broker.start(progress=lambda msg: None)
    try:
        kafka = sasl(broker.bootstrap, protocol="SASL_SSL", ssl_cafile=tls["cafile"])
        round_trip(kafka, unique)
        with pytest.raises(BrokerError, match="authentication failed for user 'alice'"):
            make_producer(sasl(broker.bootstrap, password=WRONG, protocol="SASL_SSL", ssl_cafile=tls["cafile"]))
        # A client that does not trust the broker's certificate is refused by TLS, before any password is sent.
        with pytest.raises(BrokerError, match="does not trust the TLS certificate"):
            make_admin(sasl(broker.bootstrap, protocol="SASL_SSL"))
    finally:
        broker.stop()
    assert PASSWORD not in caplog.text and WRONG not in caplog.text


def test_the_monitor_service_runs_over_scram_through_its_first_commit(scram_broker, unique):
    kafka = sasl(scram_broker)
    raw = kafka.model_dump(mode="json")
    raw["sasl_password"] = PASSWORD   # model_dump masks the SecretStr
    config = make_config(scram_broker, unique, [{"model_id": "m", "features": [{"name": "x"}]}], kafka=raw,
                         checkpoint={"every_events": 100, "every_seconds": 1.0})
    service = MonitorService(config)
    with running(service), EventProducer(kafka, config.topics) as events:
        for i in range(300):
            events.features("m", {"x": float(i % 7)}, event_id=f"e{i}")
        events.flush()
        reader = make_consumer(kafka, group_id=config.consumer.group_id, enable_auto_commit=False)
        try:
            partitions = range(config.topics.partitions)
            wait_for(lambda: sum(reader.committed(TopicPartition(config.topics.features, p)) or 0
                                 for p in partitions) >= 300, what="the service's commit over SCRAM")
        finally:
            reader.close(autocommit=False)
    assert service.metrics.checkpoint_failures._value.get() == 0
