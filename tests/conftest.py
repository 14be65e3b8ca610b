"""Shared fixtures: a real Kafka broker for the integration tests, fresh names for every test."""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path

import pytest

from stream.broker import DIR_PREFIX, kafka_broker


def _broker_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob(f"{DIR_PREFIX}*"))


def _project_processes() -> set[str]:
    out = subprocess.run(["pgrep", "-af", "kafka.Kafka|stream.cli serve|streamdrift serve"],
                         capture_output=True, text=True).stdout
    return {line for line in out.splitlines() if "pgrep" not in line}


@pytest.fixture(scope="session", autouse=True)
def leaves_nothing_behind():
    """Set up first, torn down last: the session must end with no broker folder or process it started."""
    folders, processes = _broker_folders(), _project_processes()
    yield
    left = sorted(map(str, _broker_folders() - folders))
    running = sorted(_project_processes() - processes)
    assert not left and not running, f"the test session left broker folders {left} and processes {running}"


@pytest.fixture(scope="session")
def kafka_bootstrap():
    """The broker of the whole session. If it cannot start, every integration test fails with the reason."""
    with kafka_broker(progress=lambda msg: print(msg, flush=True)) as bootstrap:
        yield bootstrap


@pytest.fixture
def unique():
    """A short random suffix so each test has its own topics and consumer group."""
    return uuid.uuid4().hex[:8]


@contextlib.contextmanager
def running(service):
    """Run a MonitorService in a thread; stop it (finish batch, commit, close) on exit."""
    errors: list[BaseException] = []

    def target():
        try:
            service.run()
        except BaseException as exc:  # surfaced to the test below
            errors.append(exc)

    service.connect()
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        service.stop()
        thread.join(timeout=30)
    assert not thread.is_alive(), "the service did not stop within 30 s of stop()"
    if errors:
        raise errors[0]
