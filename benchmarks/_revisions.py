"""Comparing the work tree with an earlier commit in one run, and cProfile's top costs, for the benchmarks."""

from __future__ import annotations

import cProfile
import io
import pstats
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def export(rev: str, into: Path, *folders: str) -> None:
    """The given folders as they were at commit `rev`, written under `into` (the work tree is not touched)."""
    archive = subprocess.run(["git", "archive", rev, *folders], cwd=ROOT, check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)


def top_costs(profiler: cProfile.Profile, count: int) -> str:
    """The `count` functions with the most own time, paths relative to the repository."""
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(count)
    lines = [line for line in text.getvalue().splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    return "\n".join(line.replace(str(ROOT) + "/", "") for line in lines[start:])
