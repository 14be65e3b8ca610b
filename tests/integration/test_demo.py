"""The README's first command, end to end: alerts for the drifted features only, nothing left running."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stream.broker import DIR_PREFIX

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def broker_folders() -> set[Path]:
    import tempfile

    return set(Path(tempfile.gettempdir()).glob(f"{DIR_PREFIX}*"))


def java_processes() -> set[int]:
    out = subprocess.run(["pgrep", "-f", "kafka.Kafka"], capture_output=True, text=True).stdout
    return {int(p) for p in out.split()}


@pytest.fixture
def started():
    """Every demo a test starts; whatever is still running at the end (a failed test) is killed."""
    procs: list[subprocess.Popen] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def demo(*args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "STREAMDRIFT_BOOTSTRAP"}   # its own broker, as a user gets
    # A session of its own, like a terminal's foreground job: Ctrl-C goes to the whole group.
    return subprocess.Popen([sys.executable, "-m", "streamdrift", "demo", "--metrics-port", "0", *args], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def test_the_demo_alerts_on_the_drifted_features_only_and_cleans_up(started):
    before, folders = java_processes(), broker_folders()
    proc = demo("--duration", "30", "--rate", "1000")
    started.append(proc)
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, out
    assert re.search(r"Kafka bootstrap:\s+127\.0\.0\.1:\d+", out) and re.search(r"http://127\.0\.0\.1:\d+/metrics", out)
    drifted = set(re.findall(r"ALERT .* data_drift\s+credit-risk/(\w+)", out))
    assert drifted == {"income", "country"}, out
    assert "stable features without a drift alert: age, debt_ratio, open_accounts, device" in out
    assert 'streamdrift_events_total{model="credit-risk",role="features"}' in out
    time.sleep(1)
    assert java_processes() <= before, "the demo left its Kafka broker running"
    assert broker_folders() <= folders, "the demo left its broker's folder"
    assert "streamdrift serve" not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout


def test_ctrl_c_stops_the_demo_and_leaves_no_process(started):
    before, folders = java_processes(), broker_folders()
    proc = demo("--duration", "120")
    started.append(proc)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("Monitor service:"):
            break
    assert lines and lines[-1].startswith("Monitor service:"), "".join(lines)
    service_pid = int(re.search(r"pid (\d+)", lines[-1]).group(1))
    os.killpg(proc.pid, signal.SIGINT)   # what a terminal does on Ctrl-C
    out, _ = proc.communicate(timeout=90)
    assert proc.returncode == 0, "".join(lines) + out
    time.sleep(1)
    assert java_processes() <= before, "Ctrl-C left the Kafka broker running"
    assert broker_folders() <= folders, "Ctrl-C left the broker's folder"
    with pytest.raises(ProcessLookupError):
        os.kill(service_pid, 0)
