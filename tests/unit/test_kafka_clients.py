"""The kafka-python adapter without a broker: security settings map to the right keyword arguments, secrets stay hidden."""

from __future__ import annotations

import logging
import socket

import pytest

from streamdrift import cli
from stream.config import KafkaConfig
from stream.kafka_clients import client_kwargs
from stream.sasl_login import check_credentials

SECRET = "s3cret-Unit-94af"  # noqa: S105
SASL_KEYS = {"sasl_mechanism", "sasl_plain_username", "sasl_plain_password"}
SSL_KEYS = {"ssl_cafile", "ssl_certfile", "ssl_keyfile"}
TLS_FILES = {"ssl_cafile": "/etc/kafka/ca.pem", "ssl_certfile": "/etc/kafka/client.pem",
             "ssl_keyfile": "/etc/kafka/client.key"}
SASL = {"sasl_mechanism": "SCRAM-SHA-512", "sasl_username": "alice", "sasl_password": SECRET}


def debug_logs(caplog) -> None:
    """Capture everything, kafka-python included (`streamdrift` commands set the "kafka" logger to WARNING)."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="kafka")


def test_plaintext_has_no_security_settings():
    kwargs = client_kwargs(KafkaConfig(bootstrap_servers="a:9092,b:9092", **TLS_FILES))
    assert kwargs["bootstrap_servers"] == ["a:9092", "b:9092"]
    assert kwargs["security_protocol"] == "PLAINTEXT"
    assert not (SASL_KEYS | SSL_KEYS) & kwargs.keys()


def test_ssl_passes_the_tls_files_as_strings_and_no_sasl():
    kwargs = client_kwargs(KafkaConfig(security_protocol="SSL", **TLS_FILES))
    assert kwargs["security_protocol"] == "SSL"
    assert {k: kwargs[k] for k in SSL_KEYS} == TLS_FILES
    assert not SASL_KEYS & kwargs.keys()


def test_ssl_leaves_out_files_that_are_not_set():
    kwargs = client_kwargs(KafkaConfig(security_protocol="SSL", ssl_cafile="/etc/kafka/ca.pem"))
    assert kwargs["ssl_cafile"] == "/etc/kafka/ca.pem"
    assert "ssl_certfile" not in kwargs and "ssl_keyfile" not in kwargs


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_plaintext_unwraps_the_password_and_has_no_tls(mechanism):
    kwargs = client_kwargs(KafkaConfig(security_protocol="SASL_PLAINTEXT", **{**SASL, "sasl_mechanism": mechanism},
                                       **TLS_FILES))
    assert (kwargs["sasl_mechanism"], kwargs["sasl_plain_username"], kwargs["sasl_plain_password"]) == (
        mechanism, "alice", SECRET)
    assert not SSL_KEYS & kwargs.keys()


def test_sasl_ssl_has_both():
    kwargs = client_kwargs(KafkaConfig(security_protocol="SASL_SSL", **SASL, **TLS_FILES))
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert SASL_KEYS | SSL_KEYS <= kwargs.keys()


def test_the_config_never_shows_the_password():
    kafka = KafkaConfig(security_protocol="SASL_SSL", **SASL)
    assert SECRET not in repr(kafka) and SECRET not in str(kafka) and SECRET not in kafka.model_dump_json()


def test_kafka_python_logs_that_would_show_the_password_are_masked(caplog):
    debug_logs(caplog)
    kwargs = client_kwargs(KafkaConfig(security_protocol="SASL_PLAINTEXT", **SASL))
    # What KafkaAdminClient logs at DEBUG, and what the protocol logger prints for a SASL/PLAIN token.
    logging.getLogger("kafka.admin.client").debug("Starting KafkaAdminClient with configuration: %s", kwargs)
    logging.getLogger("kafka.protocol.parser").debug("Send: %r", b"\x00alice\x00" + SECRET.encode())
    assert SECRET not in caplog.text
    assert caplog.text.count("***") == 2


def test_a_broker_that_does_not_answer_is_left_to_the_client_to_report():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        check_credentials(KafkaConfig(bootstrap_servers=f"127.0.0.1:{port}", security_protocol="SASL_PLAINTEXT",
                                       **SASL), "producer", timeout_s=1)


CONFIG = """\
kafka:
  bootstrap_servers: broker:9093
  security_protocol: SASL_SSL
  sasl_mechanism: SCRAM-SHA-512
  sasl_username: alice
  request_timeout_ms: {timeout}
models:
  - model_id: m
    features: [{{name: x}}]
"""


@pytest.mark.parametrize("timeout", [30000, 5], ids=["valid", "invalid"])
def test_check_config_never_prints_the_password(tmp_path, monkeypatch, capsys, timeout):
    path = tmp_path / "streamdrift.yaml"
    path.write_text(CONFIG.format(timeout=timeout))
    monkeypatch.setenv("STREAMDRIFT_KAFKA__SASL_PASSWORD", SECRET)
    code = cli.main(["check-config", str(path)])
    out = capsys.readouterr()
    assert code == (0 if timeout > 1000 else 2)
    assert SECRET not in out.out + out.err


def test_check_config_masks_a_password_of_the_wrong_type(tmp_path, capsys):
    path = tmp_path / "streamdrift.yaml"
    path.write_text(CONFIG.format(timeout=30000).replace("sasl_username: alice",
                                                         "sasl_username: alice\n  sasl_password: [9876543210]"))
    assert cli.main(["check-config", str(path)]) == 2
    out = capsys.readouterr()
    assert "9876543210" not in out.out + out.err


def test_an_unreachable_broker_is_a_clear_broker_error():
    from stream.errors import BrokerError
    from stream.kafka_clients import make_admin

    with pytest.raises(BrokerError, match="no Kafka broker answered at 127.0.0.1:1"):
        make_admin(KafkaConfig(bootstrap_servers="127.0.0.1:1", request_timeout_ms=1000), bootstrap_timeout_ms=2000)
