"""Shared fixtures: a real Kafka broker for the integration tests, fresh names for every test."""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from stream.broker import DIR_PREFIX, kafka_broker


SESSION_TAG = "STREAMDRIFT_TEST_SESSION"


def _broker_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob(f"{DIR_PREFIX}*"))


def _processes() -> dict[int, tuple[bytes, bytes]]:
    """pid -> (command line, environment) of every process we may read."""
    found = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                found[int(proc.name)] = ((proc / "cmdline").read_bytes(), (proc / "environ").read_bytes())
            except OSError:
                continue
    return found


def _leftovers(tag: str, folders_before: set[Path]) -> tuple[list[str], list[str]]:
    """Processes this session started that still run, and broker folders it left.

    Children inherit the session's tag in their environment, so a concurrent test session on the
    same machine (its brokers, its folders) is told apart: a new folder is ours to answer for
    unless a live broker of another session still runs on it.
    """
    mark = f"{SESSION_TAG}={tag}".encode()
    procs = _processes()
    ours = {pid: cmd for pid, (cmd, env) in procs.items() if mark in env.split(b"\0") and pid != os.getpid()}
    in_use_by_others = {folder for folder in _broker_folders() for pid, (cmd, _) in procs.items()
                        if pid not in ours and str(folder).encode() in cmd}
    left = sorted(str(f) for f in _broker_folders() - folders_before - in_use_by_others)
    running = sorted(f"{pid} {b' '.join(cmd.split(bytes(1))).decode(errors='replace')[:200]}" for pid, cmd in ours.items())
    return left, running


def started_by_this_session() -> tuple[set[str], set[int]]:
    """Broker folders not in use by another session's broker, and the pids of live processes this session
    started: what a test compares before and after to show it left nothing, with other sessions running."""
    left, running = _leftovers(os.environ[SESSION_TAG], set())
    return set(left), {int(line.split(" ", 1)[0]) for line in running}


@pytest.fixture(scope="session", autouse=True)
def leaves_nothing_behind():
    """Set up first, torn down last: the session must end with no broker folder or process it started."""
    tag = uuid.uuid4().hex
    os.environ[SESSION_TAG] = tag
    before = _broker_folders()
    yield
    deadline = time.monotonic() + 10   # a reaper may still be removing a folder
    while (found := _leftovers(tag, before)) != ([], []) and time.monotonic() < deadline:
        time.sleep(0.2)
    left, running = found
    assert not left and not running, f"the test session left broker folders {left} and processes {running}"


@pytest.fixture(autouse=True)
def no_service_outlives_its_test():
    """A test that fails half-way must not leave its `streamdrift serve` processes running."""
    from tests.integration.service_process import ServiceProcess

    yield
    while ServiceProcess.started:
        service = ServiceProcess.started.pop()
        if service.alive():
            service.resume()
            service.kill()


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
    thread.errors = errors   # so a test that finds the thread dead can say why
    thread.start()
    try:
        yield thread
    finally:
        service.stop()
        thread.join(timeout=30)
    assert not thread.is_alive(), "the service did not stop within 30 s of stop()"
    if errors:
        raise errors[0]
