"""The local broker launcher: ready means it answers, and it never outlives the process that started it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from stream.broker import LocalKafka
from stream.errors import BrokerError

pytestmark = pytest.mark.integration

STARTER = """
import sys
from stream.broker import LocalKafka
broker = LocalKafka()
broker.start(progress=lambda m: None)
print(broker._proc.pid, broker.bootstrap, flush=True)
sys.stdin.read()
"""


def test_the_broker_dies_with_a_python_process_killed_by_sigkill():
    starter = subprocess.Popen([sys.executable, "-c", STARTER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    jvm_pid, bootstrap = starter.stdout.readline().split()
    host, port = bootstrap.split(":")
    socket.create_connection((host, int(port)), timeout=5).close()   # it is up
    starter.send_signal(signal.SIGKILL)
    starter.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(int(jvm_pid), 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(int(jvm_pid), signal.SIGKILL)
    pytest.fail("the Kafka JVM outlived the Python process that started it")


def test_a_taken_port_is_refused_with_what_to_do():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(BrokerError, match=f"port {port} is taken: choose another"):
            LocalKafka(port).start(progress=lambda m: None)


def test_no_java_is_refused_with_what_to_do(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(BrokerError, match="Java 17\\+ is needed .* STREAMDRIFT_BOOTSTRAP"):
        LocalKafka().start(progress=lambda m: None)
