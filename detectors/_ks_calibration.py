"""Simulate the ks level that gives a target mean run length between false alarms.

Against a fixed reference, with continuous data, every ks distance depends only on ranks, so
one simulation on uniforms serves every feature with the same :class:`Setting`. The simulation
runs the detector's own code (:mod:`detectors._ks_windows`) over the same windows, stride and
re-arming, so the overlap between successive tests and between window sizes and channels is
accounted for. With ties the distances are stochastically smaller, so the level is conservative
there. Results are looked up in shipped tables and an on-disk cache (:mod:`detectors._calibration_store`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from detectors._ks_windows import GridReference, WindowGeometry, stride_rows, surprise

VERSION = 2  # bump whenever the statistic or the simulation changes: older stored levels are then ignored
SIMULATED_EVENTS = 2_000_000
_CHUNK_TESTS = 256


@dataclass(frozen=True)
class Setting:
    """Everything the level depends on; ``reference_size`` is the calibration size (see ks.calibration_size)."""

    sizes: tuple[int, ...]
    stride: int
    reference_size: int
    arl: float
    seed: int
    grid: int
    events: int = SIMULATED_EVENTS

    @property
    def key(self) -> str:
        return (f"v{VERSION}-w{'-'.join(map(str, self.sizes))}-s{self.stride}-m{self.reference_size}"
                f"-arl{self.arl:g}-seed{self.seed}-g{self.grid}-e{self.events}")


def max_surprise(setting: Setting, ref: GridReference, codes: np.ndarray) -> np.ndarray:
    """Largest surprise over windows and channels at every test of a stream starting at a re-arm."""
    s = setting
    geo = WindowGeometry(ref, s.sizes)
    zero = (np.zeros(ref.n_codes, dtype=np.int64), 0, 0)
    rows, shift, spread = stride_rows(ref, codes, s.stride, zero)
    rows = np.vstack([zero[0], rows])
    shift, spread = np.concatenate([[0], shift]), np.concatenate([[0], spread])
    spans = np.asarray(s.sizes) // s.stride
    first = int(spans[0])
    out = np.empty(len(rows) - first)
    for a in range(0, len(out), _CHUNK_TESTS):
        count = min(_CHUNK_TESTS, len(out) - a)
        dist = geo.distances(rows, shift, spread, first + a, count, spans)
        out[a:a + count] = surprise(dist, s.sizes, ref.size).max(axis=(1, 2))
    return out


def simulate_level(setting: Setting) -> float:
    """The surprise level whose alarms, each restarting the windows, come once every ``arl`` values."""
    s = setting
    rng = np.random.default_rng([s.seed, *s.sizes, s.stride, s.reference_size, s.grid, VERSION])
    length = max(50 * s.sizes[0], 50_000) // s.stride * s.stride
    replicates = max(4, s.events // length)
    series = []
    for _ in range(replicates):
        ref = GridReference(rng.random(s.reference_size), s.grid)
        series.append(max_surprise(s, ref, ref.codes(rng.random(length))))
    return level_for_rate(series, s.sizes[0] // s.stride, replicates * length, 1.0 / s.arl)


def alarm_count(series: list[np.ndarray], level: float, gap: int) -> int:
    """Alarms above ``level`` when each alarm restarts the windows (next test ``gap`` tests later)."""
    total = 0
    for d in series:
        hits = np.flatnonzero(d > level)
        i = 0
        while i < len(hits):
            total += 1
            i = int(np.searchsorted(hits, hits[i] + gap))
    return total


def level_for_rate(series: list[np.ndarray], gap: int, events: int, target: float) -> float:
    """Interpolate the level with ``target`` alarms per value, or extrapolate its tail.

    The surprise is minus the log of a tail probability, so log(rate) is close to linear in it.
    """
    pooled = np.concatenate(series)
    levels = np.unique(np.quantile(pooled, np.linspace(0.9, 1.0, 81)[:-1]))
    rates = np.array([alarm_count(series, c, gap) for c in levels]) / events
    if rates.min() <= target:
        return float(levels[np.flatnonzero(rates <= target)[0]])
    counts = rates * events
    tail = np.flatnonzero(counts >= 8)[-12:]
    slope, intercept = np.polyfit(levels[tail], np.log(rates[tail]), 1, w=np.sqrt(counts[tail]))
    if slope >= 0:  # degenerate simulation; fall back to the most extreme observed level
        return float(levels[-1])
    return float(max((math.log(target) - intercept) / slope, levels[tail[-1]]))
