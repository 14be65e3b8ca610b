"""Where ks calibration levels come from: an in-process memo, the shipped tables, the on-disk cache, or a simulation.

The only I/O in ``detectors``. The shipped table (``ks_levels.json``, written by
``python -m detectors._ks_tables``) holds the levels of the default configuration and of common
window, stride and scale choices. Any other configuration is simulated once and kept in the
directory named by ``STREAMDRIFT_CACHE`` (default ``~/.cache/streamdrift``), one small JSON file
per configuration, written atomically. A file that cannot be read, or that does not hold the
level of exactly this configuration and calibration version, is ignored and rewritten. A cache
that cannot be written (read-only home, full disk) only costs the simulation again next time.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Callable

TABLE = Path(__file__).with_name("ks_levels.json")
TABLE_FORMAT = 1


@functools.lru_cache(maxsize=1)
def shipped_levels() -> dict[str, float]:
    """The shipped table, ``{setting key: level}`` (empty if missing or unreadable)."""
    try:
        data = json.loads(TABLE.read_text())
        if data.get("format") != TABLE_FORMAT:
            return {}
        return {k: float(v) for k, v in data["levels"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def cache_dir() -> Path:
    return Path(os.environ.get("STREAMDRIFT_CACHE") or Path.home() / ".cache" / "streamdrift")


def _path(key: str) -> Path:
    return cache_dir() / f"ks-level-{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"


def _read(key: str) -> float | None:
    try:
        data = json.loads(_path(key).read_text())
        level = float(data["level"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return level if data.get("key") == key and math.isfinite(level) else None


def _write(key: str, level: float) -> None:
    path = _path(key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".tmp-", suffix=".json", delete=False) as f:
            json.dump({"key": key, "level": level}, f)
        os.chmod(f.name, 0o644)  # a cache, not a secret: readable like the files beside it
        os.replace(f.name, path)  # atomic: readers see the old file or the new one, never half of one
    except OSError:
        try:
            os.unlink(f.name)
        except (OSError, UnboundLocalError):
            pass


_known: dict[str, float] = {}  # in-process memo: a configuration is looked up once per process


def stored_level(key: str, compute: Callable[[], float]) -> float:
    """The level for ``key``: memo, shipped table, disk cache, else ``compute()`` (then cached on disk)."""
    level = _known.get(key)
    if level is None:
        level = shipped_levels().get(key)
        if level is None:
            level = _read(key)
        if level is None:
            level = compute()
            _write(key, level)
        _known[key] = level
    return level
