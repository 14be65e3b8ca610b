"""Socket reads in large chunks for kafka-python's IO thread, with unchanged bytes, errors and logs.

kafka-python 3.0.x (seen with 3.0.12) drains a readable socket with ``recv(4096)`` calls. Each call
gives up the GIL and must take it back from the main thread, which holds it while it routes a batch:
Python hands the GIL over only every ``sys.getswitchinterval()`` (5 ms), so a 4 MiB fetch response read
4 KiB at a time trickles in while the service computes, and the next ``poll`` waits for the rest. The
main thread of the service spent a fifth of its time in that wait (py-spy, throughput benchmark); read
in 1 MiB chunks, the response is in before the batch is done and the wait is gone.

Only the chunk size differs from kafka-python's ``_sock_recv``: the same loop, the same exceptions
ending it, the same error values and log lines. If kafka-python's transports are not the ones this was
written against, they are left as they are (correct, only slower) and a warning says so once.
"""

from __future__ import annotations

import inspect
import logging
import ssl

import kafka.errors as Errors
from kafka.net import transport

log = logging.getLogger(__name__)
_transport_log = logging.getLogger(transport.__name__)   # kafka-python's own lines, as it logs them

CHUNK = 1 << 20
# The exceptions that end kafka-python's read loop (nothing more to read now), per transport class.
_WOULD_BLOCK = {
    "KafkaTCPTransport": (BlockingIOError, InterruptedError),
    "KafkaSSLTransport": (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError),
}
_warned = False


def _reader(would_block: tuple[type[BaseException], ...]):
    def _sock_recv(self):
        recvd = []
        err = None
        while True:
            try:
                data = self._sock.recv(CHUNK)
                if not data:   # a closed socket reads as empty rather than raising
                    _transport_log.error('%s: socket disconnected', self)
                    err = Errors.KafkaConnectionError('socket disconnected')
                    break
                recvd.append(data)
            except would_block:
                break
            except BaseException as e:
                _transport_log.exception('%s: Error receiving network data closing socket', self)
                err = Errors.KafkaConnectionError(e)
                break
        return b''.join(recvd), err

    _sock_recv.large_chunks = True
    return _sock_recv


def _as_expected(cls) -> bool:
    method = getattr(cls, "_sock_recv", None)
    if getattr(method, "large_chunks", False):
        return True
    try:
        source = inspect.getsource(method)
    except (TypeError, OSError):
        return False
    return "self._sock.recv(4096)" in source and "return recvd_data, err" in source


def install() -> bool:
    """Has every kafka-python transport read in CHUNK-byte calls; True if they do (idempotent, process-wide)."""
    global _warned
    classes = [getattr(transport, name, None) for name in _WOULD_BLOCK]
    if not all(cls is not None and _as_expected(cls) for cls in classes):
        if not _warned:
            _warned = True
            import kafka

            log.warning("kafka-python %s: its socket reads are not the ones stream/socket_reads.py knows; "
                        "sockets are read 4 KiB at a time (slower under load, same results)", kafka.__version__)
        return False
    for cls in classes:
        if not getattr(cls._sock_recv, "large_chunks", False):
            cls._sock_recv = _reader(_WOULD_BLOCK[cls.__name__])
    return True
