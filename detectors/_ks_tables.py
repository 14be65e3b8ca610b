"""Write ``ks_levels.json``, the ks calibration levels shipped with the package.

    python -m detectors._ks_tables [--workers 2]

Every level is :func:`detectors._ks_calibration.simulate_level` of its setting, deterministic
from the setting's seed, so the table holds exactly what a first use would otherwise simulate
(and write to the disk cache). The grid of settings and the generator's parameters are recorded
in the file. Re-run it after bumping ``_ks_calibration.VERSION``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time

from detectors._calibration_store import TABLE, TABLE_FORMAT
from detectors._ks_calibration import SIMULATED_EVENTS, VERSION, Setting, simulate_level
from detectors.ks import GRID, KS, calibration_size

WINDOWS = (200, 250, 500, 1000, 2000, 5000, 10000)
SCALES = (1, 2, 3, 4, 5)
EXTRA_STRIDES = {1000: (10, 20, 50), 2000: (50,)}
REFERENCE_SIZES = (1000, 2000, 4000, 8000, 10_000)  # the default warm-up, its growth, and max_reference
ARLS = (1e6, 1e7, 1e8)


def settings() -> list[Setting]:
    """Each valid (window, stride, scales) at each reference size and arl, seed 0."""
    out = []
    for window in WINDOWS:
        for stride in (None, *EXTRA_STRIDES.get(window, ())):
            for scales in SCALES:
                try:
                    det = KS(window=window, stride=stride, scales=scales)
                except ValueError:
                    continue
                for m in REFERENCE_SIZES:
                    for arl in ARLS:
                        out.append(Setting(det._sizes, det.stride, calibration_size(m), arl, 0, GRID))
    return out


def _level(setting: Setting) -> tuple[str, float]:
    return setting.key, simulate_level(setting)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    opts = parser.parse_args()
    todo = settings()
    started = time.perf_counter()
    with multiprocessing.Pool(opts.workers) as pool:
        levels = dict(pool.imap(_level, todo, chunksize=1))
    document = {
        "format": TABLE_FORMAT,
        "generator": {
            "command": "python -m detectors._ks_tables",
            "calibration_version": VERSION,
            "simulated_events": SIMULATED_EVENTS,
            "grid": GRID,
            "seed": 0,
            "windows": WINDOWS,
            "scales": SCALES,
            "extra_strides": {str(k): v for k, v in EXTRA_STRIDES.items()},
            "reference_sizes": REFERENCE_SIZES,
            "arls": ARLS,
        },
        "levels": {k: levels[k] for k in sorted(levels)},
    }
    TABLE.write_text(json.dumps(document, indent=1) + "\n")
    print(f"{len(levels)} levels in {time.perf_counter() - started:.0f} s -> {TABLE}")


if __name__ == "__main__":
    main()
