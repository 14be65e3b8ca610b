"""The one place kafka-python clients are built: typed config in, configured clients out."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import socket
import ssl
import struct
import time
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
import kafka.errors as kafka_errors
from kafka.errors import KafkaError, TopicAlreadyExistsError

from .config import KafkaConfig, TopicsConfig
from .errors import BrokerError

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


AUTH_CHECK_TIMEOUT_S = 10.0


def _connect(factory, kafka: KafkaConfig, what: str, **extra):
    # kafka-python 3.0 retries a refused SASL login until its 30 s bootstrap timeout and then reports
    # only "Unable to bootstrap", so the credentials are checked first, once, on a connection of our own.
    if kafka.security_protocol.startswith("SASL"):
        _check_credentials(kafka, what)
    try:
        return factory(**client_kwargs(kafka), **extra)
    except NoBrokersAvailable:
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


def _auth_failed(kafka: KafkaConfig, what: str, server: str, reason: str) -> BrokerError:
    return BrokerError(
        f"authentication failed for user {kafka.sasl_username!r} with mechanism {kafka.sasl_mechanism} "
        f"at bootstrap {server} (the {what}): {reason}. Check kafka.sasl_username and the password "
        "(STREAMDRIFT_KAFKA__SASL_PASSWORD), and that the user exists on the broker for this mechanism "
        f"(kafka-configs.sh --alter --entity-type users --entity-name {kafka.sasl_username} "
        f"--add-config '{kafka.sasl_mechanism}=[password=...]')"
    )


def _check_credentials(kafka: KafkaConfig, what: str, timeout_s: float = AUTH_CHECK_TIMEOUT_S) -> None:
    """Log in once to the first bootstrap server that answers; raise BrokerError if the broker refuses.

    Anything other than a clear refusal (no broker, TLS trouble, an unexpected reply) is left to the
    real client, whose own error is then translated by _connect.
    """
    for server in kafka.bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with _open(kafka, host.strip("[]"), int(port), timeout_s) as sock:
                refusal = _sasl_login(sock, kafka)
        except ssl.SSLCertVerificationError as exc:
            raise BrokerError(
                f"the {what} does not trust the TLS certificate of {server.strip()} ({exc.verify_message}): "
                "set kafka.ssl_cafile to the CA file that signed the broker's certificate"
            ) from None
        except (OSError, ValueError, struct.error):
            continue  # unreachable or garbled: try the next server, or let the client report it
        if refusal is not None:
            raise _auth_failed(kafka, what, server.strip(), refusal)
        return


def _open(kafka: KafkaConfig, host: str, port: int, timeout_s: float) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=timeout_s)
    if not kafka.security_protocol.endswith("SSL"):
        return sock
    context = ssl.create_default_context(cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None)
    if kafka.ssl_certfile:
        context.load_cert_chain(str(kafka.ssl_certfile), str(kafka.ssl_keyfile) if kafka.ssl_keyfile else None)
    return context.wrap_socket(sock, server_hostname=host)


# Kafka wire protocol, only what a login needs: SaslHandshake v1 (api 17), SaslAuthenticate v0 (api 36).
def _request(sock: socket.socket, api_key: int, body: bytes, client_id: str) -> bytes:
    cid = client_id.encode()
    header = struct.pack(">hhih", api_key, 1 if api_key == 17 else 0, api_key, len(cid)) + cid
    sock.sendall(struct.pack(">i", len(header) + len(body)) + header + body)
    size = struct.unpack(">i", _read(sock, 4))[0]
    return _read(sock, size)[4:]  # drop the correlation id


def _read(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        data += chunk
    return data


def _sasl_login(sock: socket.socket, kafka: KafkaConfig) -> str | None:
    """None when the broker accepts the credentials, else the broker's reason."""
    mechanism = kafka.sasl_mechanism.encode()
    reply = _request(sock, 17, struct.pack(">h", len(mechanism)) + mechanism, kafka.client_id)
    if struct.unpack(">h", reply[:2])[0] != 0:
        count, offset, enabled = struct.unpack(">i", reply[2:6])[0], 6, []
        for _ in range(max(count, 0)):
            n = struct.unpack(">h", reply[offset:offset + 2])[0]
            enabled.append(reply[offset + 2:offset + 2 + n].decode())
            offset += 2 + n
        return f"the broker does not enable {kafka.sasl_mechanism} on this listener (it offers {', '.join(enabled)})"
    user = kafka.sasl_username
    password = kafka.sasl_password.get_secret_value()
    if kafka.sasl_mechanism == "PLAIN":
        return _authenticate(sock, kafka, f"\0{user}\0{password}".encode())[0]
    digest = {"SCRAM-SHA-256": hashlib.sha256, "SCRAM-SHA-512": hashlib.sha512}[kafka.sasl_mechanism]
    # RFC 5802 client side.
    name = user.replace("=", "=3D").replace(",", "=2C")
    first_bare = f"n={name},r={secrets.token_hex(16)}"
    error, server_first = _authenticate(sock, kafka, f"n,,{first_bare}".encode())
    if error is not None:
        return error
    fields = dict(part.split("=", 1) for part in server_first.decode().split(","))
    salted = hashlib.pbkdf2_hmac(digest().name, password.encode(), base64.b64decode(fields["s"]), int(fields["i"]))
    client_key = hmac.new(salted, b"Client Key", digest).digest()
    without_proof = f"c=biws,r={fields['r']}"
    message = f"{first_bare},{server_first.decode()},{without_proof}".encode()
    signature = hmac.new(digest(client_key).digest(), message, digest).digest()
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature))).decode()
    return _authenticate(sock, kafka, f"{without_proof},p={proof}".encode())[0]


def _authenticate(sock: socket.socket, kafka: KafkaConfig, token: bytes) -> tuple[str | None, bytes]:
    reply = _request(sock, 36, struct.pack(">i", len(token)) + token, kafka.client_id)
    error = struct.unpack(">h", reply[:2])[0]
    n = struct.unpack(">h", reply[2:4])[0]
    message = reply[4:4 + n].decode() if n > 0 else ""
    offset = 4 + max(n, 0)
    size = struct.unpack(">i", reply[offset:offset + 4])[0]
    if error != 0:
        return message or f"the broker refused the login (Kafka error {error})", b""
    return None, reply[offset + 4:offset + 4 + max(size, 0)]


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
