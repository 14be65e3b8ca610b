"""kafka-python's transports read sockets in large chunks, with the bytes, errors and logs they had.

The real reads are exercised by every integration test (consumers, producers and admin clients over a
real broker, SASL included); these pin what differs and what must not.
"""

from __future__ import annotations

import logging
import ssl

import kafka.errors as Errors
import pytest
from kafka.net.transport import KafkaSSLTransport, KafkaTCPTransport

from stream import socket_reads


class _Socket:
    """A non-blocking socket's reads: whatever is buffered, up to n bytes a call, then `end`."""

    def __init__(self, data: bytes, end: BaseException | None = BlockingIOError()):
        self.data, self.end, self.calls = data, end, 0

    def recv(self, n: int) -> bytes:
        self.calls += 1
        if not self.data:
            if self.end is None:
                return b""   # the peer closed
            raise self.end
        chunk, self.data = self.data[:n], self.data[n:]
        return chunk


class _Transport:
    def __init__(self, sock: _Socket):
        self._sock = sock


@pytest.fixture(scope="module", autouse=True)
def installed():
    assert socket_reads.install()


@pytest.mark.parametrize("cls", [KafkaTCPTransport, KafkaSSLTransport])
def test_a_large_response_is_read_whole_in_a_few_calls(cls):
    payload = bytes(range(256)) * 16_384   # 4 MiB: a fetch response of 4 partitions at 1 MiB each
    sock = _Socket(payload)
    data, err = cls._sock_recv(_Transport(sock))
    assert data == payload and err is None
    # kafka-python's own loop takes 1,025 calls (4 KiB each): each one a GIL handoff from the main thread.
    assert sock.calls <= 5


@pytest.mark.parametrize("cls, would_block", [
    (KafkaTCPTransport, InterruptedError()),
    (KafkaSSLTransport, ssl.SSLWantReadError()),
    (KafkaSSLTransport, ssl.SSLWantWriteError()),
])
def test_nothing_more_to_read_ends_the_read_without_error(cls, would_block):
    data, err = cls._sock_recv(_Transport(_Socket(b"abc", would_block)))
    assert (data, err) == (b"abc", None)


def test_a_closed_socket_returns_what_was_read_and_a_connection_error(caplog):
    with caplog.at_level(logging.ERROR, logger="kafka.net.transport"):
        data, err = KafkaTCPTransport._sock_recv(_Transport(_Socket(b"partial", end=None)))
    assert data == b"partial"
    assert isinstance(err, Errors.KafkaConnectionError) and "socket disconnected" in str(err)
    assert "socket disconnected" in caplog.text


def test_a_failing_socket_returns_a_connection_error_carrying_the_cause(caplog):
    with caplog.at_level(logging.ERROR, logger="kafka.net.transport"):
        data, err = KafkaTCPTransport._sock_recv(_Transport(_Socket(b"", end=ConnectionResetError("reset"))))
    assert data == b""
    assert isinstance(err, Errors.KafkaConnectionError) and "reset" in str(err)
    assert "Error receiving network data closing socket" in caplog.text


def test_a_transport_that_changed_is_left_alone_with_a_warning(monkeypatch, caplog):
    class Moved:
        def _sock_recv(self):
            return self._sock.recv(65536), None

    monkeypatch.setattr("kafka.net.transport.KafkaTCPTransport", Moved)
    monkeypatch.setattr(socket_reads, "_warned", False)
    with caplog.at_level(logging.WARNING, logger="stream.socket_reads"):
        assert socket_reads.install() is False
    assert not getattr(Moved._sock_recv, "large_chunks", False)
    assert "sockets are read 4 KiB at a time" in caplog.text
