"""Compare ks configurations on the benchmark's main (not held-out) streams: how its defaults were chosen.

    .venv/bin/python benchmarks/ks_design.py [--quick] ['{"scales": 5}' ...]

Each argument is a JSON dict of ks parameters (the defaults are always included). Reports, per
configuration, false alarms on the control streams (kept and relearned reference), and missed
changes and median delays on the change streams, next to River's ADWIN at its defaults.
Writes benchmarks/results/ks_design.md. The held-out streams of detectors_bench.py are not used.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import detectors  # noqa: E402
from detectors_bench import BATCH, CHANGES, CONTROLS, _rng, run_detector  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "ks_design.md"


def _run(params: dict, xs) -> np.ndarray:
    det = detectors.create("ks", **params)
    parts = [det.update_many(xs[i:i + BATCH]) + i for i in range(0, len(xs), BATCH)]
    return np.concatenate(parts)


def control(args):
    label, params, stream, seed, n = args
    xs = CONTROLS[stream](_rng("control", stream, seed), n)
    return "control", label, stream, n, len(_run(params, xs))


def change(args):
    label, params, scenario, seed, n_pre, n_post = args
    xs = CHANGES[scenario][1](_rng("change", scenario, seed), n_pre, n_post)
    alarms = run_detector("river.ADWIN", xs, seed) if label == "river.ADWIN" else _run(params, xs)
    after = alarms[alarms >= n_pre]
    return "change", label, scenario, int(after[0] - n_pre) if len(after) else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="*", help="JSON dicts of ks parameters")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS)
    opts = parser.parse_args()
    variants = {"defaults": {}, **{v: json.loads(v) for v in opts.variants}}
    for params in variants.values():
        detectors.prepare("ks", **params)
        detectors.prepare("ks", rearm="keep", **params)
    seeds, n = (2, 100_000) if opts.quick else (4, 250_000)
    change_seeds = 5 if opts.quick else 20
    tasks = []
    for label, params in variants.items():
        for rearm in ("relearn", "keep"):
            for stream in CONTROLS:
                tasks += [(control, (f"{label} [{rearm}]", dict(params, rearm=rearm), stream, s, n))
                          for s in range(seeds)]
        numeric = [s for s, (family, _) in CHANGES.items() if family == "numeric"]
        tasks += [(change, (label, params, sc, s, 6000, 6000)) for sc in numeric for s in range(change_seeds)]
    tasks += [(change, ("river.ADWIN", {}, sc, s, 6000, 6000)) for sc, (family, _) in CHANGES.items()
              if family == "numeric" for s in range(change_seeds)]
    with multiprocessing.Pool(min(2, os.cpu_count() or 1)) as pool:
        results = pool.map(_call, tasks, chunksize=1)
    text = report(results, variants, seeds * n, change_seeds)
    opts.output.write_text(text)
    print(text)


def _call(task):
    fn, args = task
    return fn(args)


def report(results, variants, events, runs) -> str:
    alarms, delays = {}, {}
    for r in results:
        if r[0] == "control":
            alarms[r[1], r[2]] = alarms.get((r[1], r[2]), 0) + r[4]
        else:
            delays.setdefault((r[1], r[2]), []).append(r[3])
    labels = [f"{v} [{m}]" for v in variants for m in ("relearn", "keep")]
    lines = ["# ks configurations on the main benchmark streams", "",
             f"Produced by `benchmarks/ks_design.py`. False alarms on {events:,} values per control stream "
             f"(our warm-up reference), then missed changes / {runs} runs and median delay after "
             "6,000 stable values.", "",
             "| configuration | " + " | ".join(CONTROLS) + " |", "|---" * (1 + len(CONTROLS)) + "|"]
    for label in labels:
        lines.append(f"| {label} | " + " | ".join(str(alarms.get((label, s), 0)) for s in CONTROLS) + " |")
    scenarios = sorted({s for _, s in delays}, key=list(CHANGES).index)
    cols = list(variants) + ["river.ADWIN"]
    lines += ["", "| change | " + " | ".join(cols) + " |", "|---" * (1 + len(cols)) + "|"]
    for sc in scenarios:
        cells = []
        for label in cols:
            d = delays.get((label, sc), [])
            got = [x for x in d if x is not None]
            cells.append(f"{len(d) - len(got)}, {np.median(got):.0f}" if got else f"{len(d)}, -")
        lines.append(f"| {sc} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
