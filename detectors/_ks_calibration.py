"""Simulate the KS threshold that gives a target mean run length between false alarms.

Against a fixed reference, with continuous data, the KS distance depends only on ranks, so one
simulation on uniforms serves every feature with the same (window, reference size, stride, arl):
the result is cached in-process. The simulation runs the same sliding windows, stride and
re-arming as the detector, so the overlap between successive tests is accounted for. With ties
the KS distance is stochastically smaller, so the continuous threshold is conservative there.
"""

from __future__ import annotations

import functools

import numpy as np

from detectors._reference import ReferenceSample, window_counts

SIMULATED_EVENTS = 2_000_000
_CHUNK_EVALS = 256


def ks_distances(ref: ReferenceSample, codes: np.ndarray, window: int, ends: np.ndarray,
                 stop_above: float = np.inf) -> np.ndarray:
    """KS distance between each window ``codes[e-window+1 : e+1]`` and the reference.

    Stops after the chunk of tests where a distance first exceeds ``stop_above``, so the result
    may be shorter than ``ends``.
    """
    out = []
    for start in range(0, len(ends), _CHUNK_EVALS):
        part = ends[start:start + _CHUNK_EVALS]
        counts = window_counts(codes, ref.n_codes, window, part)
        cdf = np.cumsum(counts, axis=1) / window
        out.append(np.abs(cdf - ref.cdf_at_code).max(axis=1))
        if out[-1].max() > stop_above:
            break
    return np.concatenate(out) if out else np.empty(0)


def _alarm_count(series: list[np.ndarray], level: float, gap: int) -> int:
    """Alarms above ``level`` when each alarm restarts the window (next test ``gap`` tests later)."""
    total = 0
    for d in series:
        hits = np.flatnonzero(d > level)
        next_ok = -1
        for h in hits:
            if h >= next_ok:
                total += 1
                next_ok = h + gap
    return total


@functools.lru_cache(maxsize=128)
def calibrated_threshold(window: int, ref_size: int, stride: int, arl: float, seed: int) -> float:
    """KS distance above which a window alarms, for a mean of ``arl`` events between false alarms."""
    rng = np.random.default_rng([seed, window, ref_size, stride])
    length = max(50 * window, 50_000)
    replicates = max(4, SIMULATED_EVENTS // length)
    series = []
    for _ in range(replicates):
        ref = ReferenceSample(rng.random(ref_size))
        codes = ref.codes(rng.random(length))
        ends = np.arange(window - 1, length, stride)
        series.append(ks_distances(ref, codes, window, ends))
    events = replicates * length
    gap = window // stride
    pooled = np.concatenate(series)
    levels = np.unique(np.quantile(pooled, np.linspace(0.9, 1.0, 81)[:-1]))
    rates = np.array([_alarm_count(series, c, gap) for c in levels]) / events
    target = 1.0 / arl
    if rates.min() <= target:  # observed directly: interpolate
        above = np.flatnonzero(rates <= target)[0]
        return float(levels[above])
    # Extrapolate the tail: log(rate) is close to linear in level**2 (KS tails are Gaussian-like).
    counts = rates * events
    tail = np.flatnonzero(counts >= 8)[-12:]
    x, y, w = levels[tail] ** 2, np.log(rates[tail]), np.sqrt(counts[tail])
    slope, intercept = np.polyfit(x, y, 1, w=w)
    if slope >= 0:  # degenerate simulation; fall back to the most extreme observed level
        return float(levels[-1])
    return float(max(np.sqrt((np.log(target) - intercept) / slope), levels[tail[-1]]))
