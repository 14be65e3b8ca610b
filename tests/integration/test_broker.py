"""The local broker launcher: ready means it answers, and neither it nor its data folder outlives its owner."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from stream.broker import LocalKafka
from stream.errors import BrokerError

from .helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration

STARTER = """
import sys
from stream.broker import LocalKafka
broker = LocalKafka()
broker.start(progress=lambda m: None)
print(broker._proc.pid, broker.bootstrap, broker.data_dir, flush=True)
sys.stdin.read()
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_broker_and_its_folder_go_with_a_python_process_killed_by_sigkill():
    starter = subprocess.Popen([sys.executable, "-c", STARTER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True, cwd=ROOT)
    jvm_pid, bootstrap, folder = starter.stdout.readline().split()
    host, port = bootstrap.split(":")
    socket.create_connection((host, int(port)), timeout=5).close()   # it is up
    assert Path(folder, "server.properties").exists()
    starter.send_signal(signal.SIGKILL)
    starter.wait()
    try:
        wait_for(lambda: not alive(int(jvm_pid)), 15, "the Kafka JVM to die with the process that started it")
    finally:
        if alive(int(jvm_pid)):
            os.kill(int(jvm_pid), signal.SIGKILL)
    wait_for(lambda: not Path(folder).exists(), 30, f"the broker's folder {folder} to be removed")


def broker_command(*args: str) -> tuple[subprocess.Popen, str, list[str]]:
    """`streamdrift broker` in a session of its own, as a terminal's job: the process, its bootstrap, its output."""
    env = {k: v for k, v in os.environ.items() if k != "STREAMDRIFT_BOOTSTRAP"}
    proc = subprocess.Popen([sys.executable, "-m", "streamdrift", "broker", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "ready at" in line:
            return proc, line.split("ready at ")[1].split(";")[0], lines
    proc.wait()
    pytest.fail("`streamdrift broker` did not get ready:\n" + "".join(lines))


def jvm_on(port: str) -> int | None:
    out = subprocess.run(["pgrep", "-f", "kafka.Kafka"], capture_output=True, text=True).stdout.split()
    for pid in out:
        try:
            props = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[-2].decode()
            if f"127.0.0.1:{port}" in Path(props).read_text():
                return int(pid)
        except (OSError, IndexError):
            continue
    return None


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_streamdrift_broker_stops_on_a_signal_and_leaves_nothing(signum):
    proc, bootstrap, _ = broker_command()
    port = bootstrap.rsplit(":", 1)[1]
    jvm = jvm_on(port)
    assert jvm is not None, "no JVM found listening on the broker's port"
    folder = Path(f"/proc/{jvm}/cmdline").read_bytes().split(b"\0")[-2].decode().rsplit("/", 1)[0]
    try:
        os.killpg(proc.pid, signum)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, out
    assert not alive(jvm), "the broker JVM outlived `streamdrift broker`"
    assert not Path(folder).exists(), f"`streamdrift broker` left its folder {folder}"


def test_keep_data_leaves_the_folder_and_says_where():
    proc, _, lines = broker_command("--keep-data")
    kept = [Path(line.split("kept in ", 1)[1].strip()) for line in lines if "kept in " in line]
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out
        assert len(kept) == 1, "".join(lines)
        assert (kept[0] / "server.properties").exists(), f"--keep-data removed {kept[0]}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        for folder in kept:
            shutil.rmtree(folder, ignore_errors=True)


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
