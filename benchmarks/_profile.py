"""Where a running `streamdrift serve` spends its main thread's time: py-spy samples, grouped by stage.

py-spy (`pip install -e '.[bench]'`) samples the process from outside, so the service runs as it
always does; a sample counts toward every stage on its stack, so stages nest (route contains decode).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

# (label, the function frame that marks it), in the order the table shows them.
STAGES = [
    ("route (everything done with a polled batch)", "Router.route"),
    ("decode and validate", "BatchDecoder.decode"),
    ("monitors", "ModelMonitor.observe"),
    ("ks", "KS._monitor"),
    ("numeric matrix", "numeric_matrix"),
    ("data quality", "QualityMonitor.observe"),
    ("consumer.poll (fetched records parsed)", "KafkaConsumer.poll"),
    ("checkpoint", "MonitorService.checkpoint"),
]


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise SystemExit("--profile needs py-spy: pip install -e '.[bench]'")
    return found


class Sampler:
    """py-spy recording one process for `seconds`, started now, read when done."""

    def __init__(self, pid: int, seconds: float, rate: int = 200):
        self._out = Path(tempfile.mkstemp(suffix=".txt", prefix="streamdrift-profile-")[1])
        self._proc = subprocess.Popen([py_spy(), "record", "--pid", str(pid), "--rate", str(rate),
                                       "--duration", str(int(seconds)), "--format", "raw", "--output",
                                       str(self._out), "--nonblocking", "--threads"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def shares(self) -> tuple[int, list[tuple[str, float]]]:
        """(main-thread samples, [(stage, share of them)])."""
        self._proc.wait(timeout=120)
        lines = self._out.read_text().splitlines()
        self._out.unlink()
        samples, shares = stage_shares(lines)
        if not samples:
            raise RuntimeError(f"py-spy recorded no sample of the service's main thread (exit {self._proc.returncode})")
        return samples, shares


def stage_shares(lines: list[str]) -> tuple[int, list[tuple[str, float]]]:
    """Shares of the main thread's samples per stage, from py-spy's raw format (`frame;frame;... count`)."""
    hits, total = Counter(), 0
    for line in lines:
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not frames or "MainThread" not in frames[0]:
            continue
        total += int(count)
        names = {f.split(" (")[0] for f in frames}
        for _label, frame in STAGES:
            if frame in names:
                hits[frame] += int(count)
    return total, [(label, hits[frame] / total if total else 0.0) for label, frame in STAGES]
