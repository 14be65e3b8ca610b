"""The README's first command, end to end: alerts for the drifted features only, nothing left running."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import started_by_this_session
from tests.integration.helpers import wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def assert_nothing_left(before: tuple[set[str], set[int]], what: str) -> None:
    """No broker folder and no process of this test session beyond those before (a broker's reaper may take
    a moment); another session's brokers on the same machine are not ours to answer for."""
    folders, pids = before

    def clean() -> bool:
        folders_now, pids_now = started_by_this_session()
        return folders_now <= folders and pids_now <= pids

    try:
        wait_for(clean, 15, f"{what} to leave nothing behind")
    except AssertionError:
        now = started_by_this_session()
        raise AssertionError(f"{what} left folders {sorted(now[0] - folders)} and processes "
                             f"{sorted(now[1] - pids)}") from None


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
    before = started_by_this_session()
    proc = demo("--duration", "30", "--rate", "1000")
    started.append(proc)
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, out
    assert re.search(r"Kafka bootstrap:\s+127\.0\.0\.1:\d+", out) and re.search(r"http://127\.0\.0\.1:\d+/metrics", out)
    drifted = set(re.findall(r"ALERT .* data_drift\s+credit-risk/(\w+)", out))
    assert drifted == {"income", "country"}, out
    assert "stable features without a drift alert: age, debt_ratio, open_accounts, device" in out
    assert 'streamdrift_events_total{model="credit-risk",role="features"}' in out
    assert_nothing_left(before, "the demo")   # its broker, its folder, its service


def test_ctrl_c_stops_the_demo_and_leaves_no_process(started):
    before = started_by_this_session()
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
    assert_nothing_left(before, "Ctrl-C")
    with pytest.raises(ProcessLookupError):
        os.kill(service_pid, 0)
