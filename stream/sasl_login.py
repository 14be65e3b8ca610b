"""A single SASL login on a connection of our own, so wrong credentials fail in a second, clearly.

kafka-python 3.0 retries a refused SASL login until its 30 s bootstrap timeout and then reports
only "Unable to bootstrap"; this speaks just enough of the Kafka protocol (SaslHandshake v1,
SaslAuthenticate v0, RFC 5802 SCRAM) to hear the broker's refusal and say what it means.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import socket
import ssl
import struct

from .config import KafkaConfig
from .errors import BrokerError

AUTH_CHECK_TIMEOUT_S = 10.0


def _auth_failed(kafka: KafkaConfig, what: str, server: str, reason: str) -> BrokerError:
    return BrokerError(
        f"authentication failed for user {kafka.sasl_username!r} with mechanism {kafka.sasl_mechanism} "
        f"at bootstrap {server} (the {what}): {reason}. Check kafka.sasl_username and the password "
        "(STREAMDRIFT_KAFKA__SASL_PASSWORD), and that the user exists on the broker for this mechanism "
        f"(kafka-configs.sh --alter --entity-type users --entity-name {kafka.sasl_username} "
        f"--add-config '{kafka.sasl_mechanism}=[password=...]')"
    )


def check_credentials(kafka: KafkaConfig, what: str, timeout_s: float = AUTH_CHECK_TIMEOUT_S) -> None:
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
