"""Benchmark the drift detectors against River's ADWIN, KSWIN and PageHinkley at their defaults.

Synthetic streams with known change points, several seeds each: control streams without any
change (false alarms), and changes (missed changes, detection delay, false alarms before the
change). Our detectors get no reference sample: they warm up on the stream, as River's do.
Throughput is measured separately on one core. Results go to benchmarks/results/detectors.md.

    .venv/bin/python benchmarks/detectors_bench.py          # about 3 minutes on 2 cores
    .venv/bin/python benchmarks/detectors_bench.py --quick  # under a minute
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing
import os
import platform
import time
import zlib
from collections import defaultdict
from pathlib import Path

import numpy as np
import river
from river import drift as river_drift
from river.drift import binary as river_binary

import detectors

RESULTS = Path(__file__).parent / "results" / "detectors.md"
BATCH = 1000  # the service feeds update_many one polled batch at a time

NUMERIC_OURS = ("ks", "adwin", "page_hinkley")
NUMERIC_RIVER = ("river.ADWIN", "river.KSWIN", "river.PageHinkley")
COUNTERPART = {"ks": "river.KSWIN", "adwin": "river.ADWIN", "page_hinkley": "river.PageHinkley"}


# ---------------------------------------------------------------- detectors under test

def make_detector(name: str, seed: int):
    if name.startswith("river."):
        factory = {
            "river.ADWIN": river_drift.ADWIN,
            "river.KSWIN": lambda: river_drift.KSWIN(seed=seed),
            "river.PageHinkley": river_drift.PageHinkley,
            "river.DDM": river_binary.DDM,
            "river.HDDM_W": river_binary.HDDMW,
        }[name]
        return factory()
    return detectors.create(name)


def run_detector(name: str, xs, seed: int) -> np.ndarray:
    det = make_detector(name, seed)
    if name.startswith("river."):
        hits = []
        for i, x in enumerate(xs.tolist() if isinstance(xs, np.ndarray) else xs):
            det.update(x)
            if det.drift_detected:
                hits.append(i)
        return np.asarray(hits, dtype=np.int64)
    parts = [det.update_many(xs[i:i + BATCH]) + i for i in range(0, len(xs), BATCH)]
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)


# ---------------------------------------------------------------- streams

def _ar1(rng, n, phi=0.5):
    e = rng.normal(size=n) * np.sqrt(1 - phi * phi)
    x = np.empty(n)
    x[0] = rng.normal()
    for i in range(1, n):  # plain loop: fast enough for the sizes here
        x[i] = phi * x[i - 1] + e[i]
    return x


CONTROLS = {
    "gaussian": lambda rng, n: rng.normal(size=n),
    "t(3) heavy tails": lambda rng, n: rng.standard_t(3, size=n),
    "lognormal skew": lambda rng, n: rng.lognormal(0.0, 1.0, size=n),
    "poisson(4) ties": lambda rng, n: rng.poisson(4.0, size=n).astype(np.float64),
    "AR(1) phi=0.5": _ar1,
    "AR(1) phi=0.9": lambda rng, n: _ar1(rng, n, 0.9),
}
CATEGORIES = np.array(["a", "b", "c", "d", "e"], dtype=object)
P_BEFORE = [0.4, 0.25, 0.15, 0.12, 0.08]
P_AFTER = [0.32, 0.25, 0.18, 0.13, 0.12]  # total variation 0.08


def _shift(before, after):
    def make(rng, n_pre, n_post):
        return np.concatenate([before(rng, n_pre), after(rng, n_post)])
    return make


def _gradual(rng, n_pre, n_post, ramp=3000):
    xs = rng.normal(size=n_pre + n_post)
    xs[n_pre:] += np.minimum(np.arange(n_post) / ramp, 1.0)
    return xs


CHANGES = {  # name -> (kinds it is meant for, generator)
    "mean +0.25 sd": ("numeric", _shift(lambda r, n: r.normal(size=n), lambda r, n: r.normal(0.25, 1, n))),
    "mean +0.5 sd": ("numeric", _shift(lambda r, n: r.normal(size=n), lambda r, n: r.normal(0.5, 1, n))),
    "mean +1 sd": ("numeric", _shift(lambda r, n: r.normal(size=n), lambda r, n: r.normal(1.0, 1, n))),
    "t(3) +0.5 sd": ("numeric", _shift(lambda r, n: r.standard_t(3, n), lambda r, n: r.standard_t(3, n) + 0.5 * 3 ** 0.5)),
    "sd x1.5": ("numeric", _shift(lambda r, n: r.normal(size=n), lambda r, n: r.normal(0, 1.5, n))),
    "gradual 0->1 sd over 3000": ("numeric", _gradual),
    "poisson 4->5 (+0.5 sd)": ("numeric", _shift(lambda r, n: r.poisson(4.0, n) * 1.0, lambda r, n: r.poisson(5.0, n) * 1.0)),
    "categorical TV 0.08": ("categorical", _shift(lambda r, n: r.choice(CATEGORIES, n, p=P_BEFORE),
                                                   lambda r, n: r.choice(CATEGORIES, n, p=P_AFTER))),
    "error rate 0.1->0.2": ("binary", _shift(lambda r, n: (r.random(n) < 0.1) * 1.0, lambda r, n: (r.random(n) < 0.2) * 1.0)),
}
CONTROLS_OTHER = {
    "categorical stationary": ("categorical", lambda rng, n: rng.choice(CATEGORIES, n, p=P_BEFORE)),
    "error rate 0.1": ("binary", lambda rng, n: (rng.random(n) < 0.1) * 1.0),
    "error rate 0.3": ("binary", lambda rng, n: (rng.random(n) < 0.3) * 1.0),
}
DETECTORS_FOR = {
    "numeric": NUMERIC_OURS + NUMERIC_RIVER,
    "categorical": ("categorical",),
    "binary": ("ddm", "hddm_w", "river.DDM", "river.HDDM_W"),
}


def _rng(*key) -> np.random.Generator:
    return np.random.default_rng([zlib.crc32(repr(key).encode())])


# ---------------------------------------------------------------- tasks

def control_task(args):
    det, stream, seed, n = args
    family, gen = ("numeric", CONTROLS[stream]) if stream in CONTROLS else CONTROLS_OTHER[stream]
    xs = gen(_rng("control", stream, seed), n)
    alarms = run_detector(det, xs, seed)
    return ("control", det, stream, seed, n, len(alarms))


def change_task(args):
    det, scenario, seed, n_pre, n_post = args
    _, gen = CHANGES[scenario]
    xs = gen(_rng("change", scenario, seed), n_pre, n_post)
    alarms = run_detector(det, xs, seed)
    before = int((alarms < n_pre).sum())
    after = alarms[alarms >= n_pre]
    delay = int(after[0] - n_pre) if len(after) else None
    return ("change", det, scenario, seed, n_pre, before, delay)


def throughput(name: str, n: int) -> float:
    xs = np.random.default_rng(0).normal(size=n)
    if name in ("ddm", "hddm_w"):
        xs = (xs > 1.0) * 1.0
    if name == "ks":  # calibration happens once per process; do not bill it to throughput
        detectors.create("ks").update_many(xs[:2000])
    start = time.perf_counter()
    run_detector(name, xs, 0)
    return n / (time.perf_counter() - start)


# ---------------------------------------------------------------- report

def fmt_rate(alarms: int, events: int) -> str:
    return f"{1e5 * alarms / events:.2f}" if events else "-"


def ratio(a, b) -> str:
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2g}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run, under a minute")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--output", type=Path, default=RESULTS)
    opts = parser.parse_args()

    if opts.quick:
        control_seeds, control_n, kswin_control_n = 2, 50_000, 5_000
        change_seeds, kswin_change_seeds, n_pre, n_post = 3, 2, 5000, 5000
    else:
        control_seeds, control_n, kswin_control_n = 4, 500_000, 10_000
        change_seeds, kswin_change_seeds, n_pre, n_post = 10, 4, 6000, 6000

    tasks = []
    for stream in CONTROLS:
        for det in NUMERIC_OURS + NUMERIC_RIVER:
            n = kswin_control_n if det == "river.KSWIN" else control_n
            tasks += [(control_task, (det, stream, s, n)) for s in range(control_seeds)]
    for stream, (family, _) in CONTROLS_OTHER.items():
        for det in DETECTORS_FOR[family]:
            tasks += [(control_task, (det, stream, s, control_n // 5)) for s in range(control_seeds)]
    for scenario, (family, _) in CHANGES.items():
        for det in DETECTORS_FOR[family]:
            seeds = kswin_change_seeds if det == "river.KSWIN" else change_seeds
            tasks += [(change_task, (det, scenario, s, n_pre, n_post)) for s in range(seeds)]
    # Slow tasks first so the pool ends together.
    tasks.sort(key=lambda t: (t[1][0] != "river.KSWIN", t[1][0] != "river.PageHinkley"))

    started = time.perf_counter()
    with multiprocessing.Pool(opts.workers) as pool:
        results = pool.map(_call, tasks, chunksize=1)
    elapsed = time.perf_counter() - started

    speed = {}
    for name in NUMERIC_OURS + NUMERIC_RIVER + ("categorical", "ddm", "hddm_w"):
        if name == "categorical":
            speed[name] = _categorical_throughput(100_000 if not opts.quick else 20_000)
            continue
        n = 10_000 if name == "river.KSWIN" else (1_000_000 if not opts.quick else 200_000)
        speed[name] = throughput(name, n)

    report = build_report(results, speed, opts, elapsed, control_n, n_pre, n_post)
    opts.output.parent.mkdir(parents=True, exist_ok=True)
    opts.output.write_text(report)
    print(report)


def _call(task):
    fn, args = task
    return fn(args)


def _categorical_throughput(n: int) -> float:
    xs = np.random.default_rng(0).choice(CATEGORIES, n, p=P_BEFORE)
    start = time.perf_counter()
    run_detector("categorical", xs, 0)
    return n / (time.perf_counter() - start)


def build_report(results, speed, opts, elapsed, control_n, n_pre, n_post) -> str:
    ctrl = defaultdict(lambda: [0, 0])  # (det, stream) -> [alarms, events]
    chg = defaultdict(lambda: {"runs": 0, "missed": 0, "delays": [], "before": 0, "pre_events": 0})
    for r in results:
        if r[0] == "control":
            _, det, stream, _, n, alarms = r
            ctrl[det, stream][0] += alarms
            ctrl[det, stream][1] += n
        else:
            _, det, scenario, _, pre, before, delay = r
            c = chg[det, scenario]
            c["runs"] += 1
            c["before"] += before
            c["pre_events"] += pre
            if delay is None:
                c["missed"] += 1
            else:
                c["delays"].append(delay)

    cpu = _cpu_name()
    lines = [
        "# Detector benchmark",
        "",
        f"Run {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on {cpu}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}, "
        f"River {river.__version__}; mode {'--quick' if opts.quick else 'default'}, "
        f"{opts.workers} worker processes, {elapsed:.0f} s for the accuracy runs.",
        "Produced by `benchmarks/detectors_bench.py`; every detector at its defaults, no reference "
        "sample given (ours warm up on the first 1,000 values of each stream, as River's detectors "
        "do). River's KSWIN is measured on fewer events because it runs at a few thousand per second.",
        "",
        "## False alarms per 100,000 events on control streams (no change)",
        "",
        "| detector | " + " | ".join(list(CONTROLS) + list(CONTROLS_OTHER)) + " |",
        "|---" * (1 + len(CONTROLS) + len(CONTROLS_OTHER)) + "|",
    ]
    all_dets = NUMERIC_OURS + NUMERIC_RIVER + ("categorical", "ddm", "hddm_w", "river.DDM", "river.HDDM_W")
    for det in all_dets:
        cells = []
        for stream in list(CONTROLS) + list(CONTROLS_OTHER):
            a, n = ctrl.get((det, stream), (0, 0))
            cells.append(f"{fmt_rate(a, n)} ({a}/{n // 1000}k)" if n else "")
        lines.append(f"| {det} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Cells: rate (alarms / thousands of events). 1 false alarm per 1,000,000 events is 0.10 here.",
        "",
        "## Changes: missed / runs, median delay in events, false alarms per 100,000 before the change",
        "",
        f"Each run: {n_pre} events, then the change, then {n_post} events; a change is missed when no "
        "alarm follows it. Delay is from the change point (the start of the ramp when gradual).",
        "",
        "| change | " + " | ".join(all_dets) + " |",
        "|---" * (1 + len(all_dets)) + "|",
    ]
    for scenario in CHANGES:
        cells = []
        for det in all_dets:
            c = chg.get((det, scenario))
            if not c:
                cells.append("")
                continue
            med = f"{int(np.median(c['delays']))}" if c["delays"] else "-"
            cells.append(f"{c['missed']}/{c['runs']}, {med}, {fmt_rate(c['before'], c['pre_events'])}")
        lines.append(f"| {scenario} | " + " | ".join(cells) + " |")

    lines += [
        "",
        "## Ours against River's counterpart at defaults",
        "",
        "| ours | River | updates/s ours | updates/s River | speed ratio | control FA/1e5 ours | "
        "control FA/1e5 River | median delay +0.5 sd ours | River | delay ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for ours, theirs in COUNTERPART.items():
        def fa(det):
            a = sum(ctrl[det, s][0] for s in CONTROLS)
            n = sum(ctrl[det, s][1] for s in CONTROLS)
            return 1e5 * a / n if n else None

        def delay(det):
            d = chg[det, "mean +0.5 sd"]["delays"]
            return float(np.median(d)) if d else None

        lines.append(
            f"| {ours} | {theirs} | {speed[ours]:,.0f} | {speed[theirs]:,.0f} | {ratio(speed[ours], speed[theirs])} | "
            f"{fa(ours):.3f} | {fa(theirs):.3f} | {delay(ours)} | {delay(theirs)} | {ratio(delay(ours), delay(theirs))} |"
        )
    d_adwin = chg["river.ADWIN", "mean +0.5 sd"]["delays"]
    lines += [
        "",
        "Updates per second: one process, a Gaussian stream fed in batches of "
        f"{BATCH} through `update_many` (River: `update` in a Python loop), calibration excluded. "
        + ", ".join(f"{k}: {v:,.0f}" for k, v in speed.items() if k not in COUNTERPART.values()) + ".",
        "",
        "## Goals",
        "",
    ]
    for det in ("ks", "adwin"):
        worst = max((1e5 * ctrl[det, s][0] / ctrl[det, s][1], s) for s in CONTROLS if s != "AR(1) phi=0.9")
        missed = sum(chg[det, s]["missed"] for s in ("mean +0.5 sd", "mean +1 sd", "t(3) +0.5 sd",
                                                     "poisson 4->5 (+0.5 sd)"))
        worst_text = (f"worst control {worst[0]:.2f} false alarms per 100,000 ({worst[1]})" if worst[0]
                      else "no false alarm on any of these controls")
        lines.append(f"- `{det}`: {worst_text}; goal <= 0.10 "
                     f"(AR(1) phi=0.9: {1e5 * ctrl[det, 'AR(1) phi=0.9'][0] / ctrl[det, 'AR(1) phi=0.9'][1]:.2f}, "
                     f"reported apart). Missed shifts of >= 0.5 sd: {missed}; goal 0.")
    lines.append(f"- `ks` updates/s: {speed['ks']:,.0f}; goal >= 1,000,000.")
    if d_adwin:
        for det in NUMERIC_OURS:
            d = chg[det, "mean +0.5 sd"]["delays"]
            if d:
                lines.append(f"- `{det}` median delay on +0.5 sd: {np.median(d):.0f} vs River ADWIN "
                             f"{np.median(d_adwin):.0f} ({np.median(d) / np.median(d_adwin):.2f}x); goal <= 2x.")
    return "\n".join(lines) + "\n"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    main()
